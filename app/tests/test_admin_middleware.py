"""The admin: off by default, reachable only through the admin listener when enabled; sessions,
users and messages exist for it only, and it still works with them."""

from __future__ import annotations

import pytest
from demo.admin_middleware import AdminAuthenticationMiddleware, AdminMessageMiddleware, AdminSessionMiddleware
from django.test import Client, RequestFactory

LISTENER_KEY = "test-admin-listener-key"


@pytest.fixture
def admin_enabled(settings):
    settings.ADMIN_ENABLED = True
    settings.ADMIN_LISTENER_KEY = LISTENER_KEY


def admin_browser(**kwargs) -> Client:
    """A client whose requests arrive as the admin listener's do (the front server adds the key)."""
    return Client(headers={"X-Admin-Listener": LISTENER_KEY}, **kwargs)


def attributes_seen(path: str) -> set[str]:
    """Runs the three middleware in their settings order and reports what the view would get."""
    seen: set[str] = set()

    def view(request):
        seen.update(name for name in ("session", "user", "_messages") if hasattr(request, name))
        from django.http import HttpResponse

        return HttpResponse()

    chain = AdminSessionMiddleware(AdminAuthenticationMiddleware(AdminMessageMiddleware(view)))
    chain(RequestFactory().get(path, headers={"X-Admin-Listener": LISTENER_KEY}))
    return seen


@pytest.mark.parametrize("path", ["/api/users/", "/api/users/1/", "/api/", "/api/schema/", "/administrator/"])
def test_api_requests_pass_through(path):
    assert attributes_seen(path) == set()


@pytest.mark.parametrize("path", ["/admin/", "/admin/login/", "/admin/api/user/"])
def test_admin_requests_get_session_user_and_messages(path, admin_enabled):
    assert attributes_seen(path) == {"session", "user", "_messages"}


@pytest.mark.django_db
def test_admin_login_and_add_a_user_with_csrf_enforced(django_user_model, admin_enabled):
    django_user_model.objects.create_superuser("root", "root@example.com", "a-long-test-password")
    browser = admin_browser(enforce_csrf_checks=True)

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


ADMIN_PATHS = ["/admin/", "/admin/login/", "/admin/api/user/", "/admin/static/x.css"]


@pytest.mark.parametrize("path", ADMIN_PATHS)
def test_admin_is_off_by_default_even_with_a_guessed_header(client, path):
    for headers in ({}, {"X-Admin-Listener": ""}, {"X-Admin-Listener": LISTENER_KEY}):
        response = client.get(path, headers=headers)
        assert (response.status_code, response.json()) == (404, {"detail": "Not found."})


@pytest.mark.parametrize("presented", [None, "", "wrong", LISTENER_KEY + "x"])
def test_enabled_admin_is_404_on_the_public_port(client, admin_enabled, presented):
    headers = {} if presented is None else {"X-Admin-Listener": presented}
    response = client.get("/admin/login/", headers=headers)
    assert (response.status_code, response.json()) == (404, {"detail": "Not found."})
    assert not response.cookies  # no session or CSRF cookie from a closed admin


def test_enabled_admin_answers_its_listener(db, admin_enabled):
    response = admin_browser().get("/admin/login/")
    assert response.status_code == 200
    assert "csrftoken" in response.cookies
