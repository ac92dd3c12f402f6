from django.contrib import admin

from api.models import User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("id", "dni", "name")
    search_fields = ("dni", "name")
