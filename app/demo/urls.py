from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from demo.admin_middleware import ADMIN_PATH_PREFIX

urlpatterns = [
    path(ADMIN_PATH_PREFIX.removeprefix("/"), admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/", include("api.urls")),
]
