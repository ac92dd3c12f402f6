"""APP_WRITE_TOKEN: creating users needs the bearer token; reads stay open; unset, nothing changes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from api.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-token-for-tests"  # noqa: S105
USERS = "/api/users/"
APP_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def token_set(settings):
    settings.WRITE_TOKEN = TOKEN


def create(headers=None, dni="1"):
    return Client(headers=headers or {}).post(USERS, {"dni": dni, "name": "Ada"}, content_type="application/json")


def test_without_token_setting_writes_are_open_as_in_the_original(settings):
    assert settings.WRITE_TOKEN == ""
    assert create().status_code == 201
    # A client that sends some Authorization header is not turned away either.
    assert create({"Authorization": "Bearer anything"}, dni="2").status_code == 201


@pytest.mark.usefixtures("token_set")
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN} extra"],
)
def test_create_without_the_right_token_is_401(authorization):
    response = create(None if authorization is None else {"Authorization": authorization})
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["detail"]
    assert User.objects.count() == 0


@pytest.mark.usefixtures("token_set")
def test_missing_token_says_what_to_send():
    assert "Authorization: Bearer <token>" in create().json()["detail"]


@pytest.mark.usefixtures("token_set")
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_create_with_the_token_is_201(scheme):
    response = create({"Authorization": f"{scheme} {TOKEN}"})
    assert response.status_code == 201, response.content
    assert User.objects.get().dni == "1"


@pytest.mark.usefixtures("token_set")
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "garbage"])
def test_reads_stay_open_with_the_token_set(authorization):
    user = User.objects.create(dni="7", name="Reader")
    client = Client(headers={} if authorization is None else {"Authorization": authorization})
    assert client.get(USERS).status_code == 200
    assert client.get(f"{USERS}{user.id}/").json() == {"id": user.id, "dni": "7", "name": "Reader"}
    assert client.get(f"{USERS}?limit=1").status_code == 200


def test_token_comes_from_the_environment_and_blank_means_unset():
    code = "import django; django.setup(); from django.conf import settings; print(repr(settings.WRITE_TOKEN))"
    for raw, expected in [("  tok  ", "'tok'"), ("   ", "''")]:
        env = {
            **os.environ,
            "APP_WRITE_TOKEN": raw,
            "DJANGO_SETTINGS_MODULE": "settings_for_tests",
            "PYTHONPATH": "tests",
        }
        out = subprocess.run([sys.executable, "-c", code], cwd=APP_DIR, env=env, capture_output=True, text=True)
        assert out.stdout.strip() == expected, out.stderr
