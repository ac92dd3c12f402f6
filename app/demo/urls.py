from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from demo.admin_middleware import ADMIN_PATH_PREFIX

# Errors outside the API views are JSON too (demo/errors.py).
handler400 = "demo.errors.bad_request"
handler403 = "demo.errors.permission_denied"
handler404 = "demo.errors.not_found"
handler500 = "demo.errors.server_error"

# The admin's URLs always exist; demo/admin_middleware.py answers 404 for them unless the admin is
# enabled and the request came through the admin listener.
urlpatterns = [
    path(ADMIN_PATH_PREFIX.removeprefix("/"), admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/", include("api.urls")),
]
