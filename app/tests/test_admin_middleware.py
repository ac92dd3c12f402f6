"""Sessions, users and messages exist for the admin only, and the admin still works with them."""

from __future__ import annotations

import pytest
from demo.admin_middleware import AdminAuthenticationMiddleware, AdminMessageMiddleware, AdminSessionMiddleware
from django.test import Client, RequestFactory


def attributes_seen(path: str) -> set[str]:
    """Runs the three middleware in their settings order and reports what the view would get."""
    seen: set[str] = set()

    def view(request):
        seen.update(name for name in ("session", "user", "_messages") if hasattr(request, name))
        from django.http import HttpResponse

        return HttpResponse()

    chain = AdminSessionMiddleware(AdminAuthenticationMiddleware(AdminMessageMiddleware(view)))
    chain(RequestFactory().get(path))
    return seen


@pytest.mark.parametrize("path", ["/api/users/", "/api/users/1/", "/api/", "/api/schema/", "/administrator/"])
def test_api_requests_pass_through(path):
    assert attributes_seen(path) == set()


@pytest.mark.parametrize("path", ["/admin/", "/admin/login/", "/admin/api/user/"])
def test_admin_requests_get_session_user_and_messages(path):
    assert attributes_seen(path) == {"session", "user", "_messages"}


@pytest.mark.django_db
def test_admin_login_and_add_a_user_with_csrf_enforced(django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", "a-long-test-password")
    browser = Client(enforce_csrf_checks=True)

    browser.get("/admin/login/")
    token = browser.cookies["csrftoken"].value
    login = {"username": "root", "password": "a-long-test-password", "next": "/admin/"}
    assert browser.post("/admin/login/", login).status_code == 403  # no CSRF token: refused
    response = browser.post("/admin/login/", {**login, "csrfmiddlewaretoken": token})
    assert (response.status_code, response["Location"]) == (302, "/admin/")

    browser.get("/admin/api/user/add/")
    token = browser.cookies["csrftoken"].value
    response = browser.post(
        "/admin/api/user/add/",
        {"dni": "0102030405", "name": "Added in admin", "csrfmiddlewaretoken": token},
        follow=True,
    )
    assert response.status_code == 200
    assert "was added successfully" in response.content.decode()  # the message survived the redirect


def test_api_responses_set_no_cookies(db):
    response = Client().get("/api/users/")
    assert response.status_code == 200
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")
