"""The users API contract (DESIGN.md section 4): status codes and bodies, exactly."""

from __future__ import annotations

import json

import pytest
from api.models import User

pytestmark = pytest.mark.django_db

USERS = "/api/users/"


def post_json(client, body, path=USERS):
    return client.post(path, body, content_type="application/json")


def body_of(response):
    """The JSON body, streamed (the unpaged list) or not."""
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return json.loads(raw)


@pytest.fixture
def three_users() -> list[User]:
    return [User.objects.create(dni=f"dni-{n}", name=f"User {n}") for n in range(3)]


def test_list_without_paging_is_a_plain_list_ordered_by_id(client, three_users):
    response = client.get(USERS)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert body_of(response) == [{"id": u.id, "dni": u.dni, "name": u.name} for u in three_users]


def test_empty_list_is_an_empty_array(client):
    response = client.get(USERS)
    assert response.status_code == 200
    assert body_of(response) == []


def test_limit_and_offset_page_the_list(client, three_users):
    response = client.get(USERS, {"limit": 1, "offset": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["results"] == [{"id": three_users[1].id, "dni": "dni-1", "name": "User 1"}]
    assert "offset=2" in body["next"]
    assert body["previous"] is not None


def test_limit_is_capped(client, three_users):
    response = client.get(USERS, {"limit": 10**9})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


@pytest.mark.parametrize("limit", ["abc", "-1", "0", "", "1.5", str(2**63)])
def test_unusable_limit_is_400_naming_it(client, three_users, limit):
    response = client.get(USERS, {"limit": limit})
    assert response.status_code == 400
    assert list(response.json()) == ["limit"]


def test_create_returns_201_and_the_object(client):
    response = post_json(client, {"dni": "1234567890123", "name": "N" * 30})
    assert response.status_code == 201
    created = User.objects.get()
    assert response.json() == {"id": created.id, "dni": "1234567890123", "name": "N" * 30}


def test_duplicate_dni_is_400_user_already_exists(client):
    assert post_json(client, {"dni": "42", "name": "First"}).status_code == 201
    response = post_json(client, {"dni": "42", "name": "Second"})
    assert response.status_code == 400
    assert response.json() == {"detail": "User already exists"}
    assert User.objects.count() == 1
    # The failed INSERT must leave the connection usable for the next request.
    assert post_json(client, {"dni": "43", "name": "Third"}).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No dni"}, "dni"),
        ({"dni": "1"}, "name"),
        ({"dni": "", "name": "Blank dni"}, "dni"),
        ({"dni": "1", "name": "   "}, "name"),
        ({"dni": "1" * 14, "name": "Too long dni"}, "dni"),
        ({"dni": "1", "name": "x" * 31}, "name"),
        ({"dni": None, "name": "Null dni"}, "dni"),
        ({"dni": ["1"], "name": "List dni"}, "dni"),
        ({"dni": {"a": 1}, "name": "Object dni"}, "dni"),
        ({"dni": True, "name": "Bool dni"}, "dni"),
        ({"dni": "1", "name": 1.5e300}, "name"),
        ({"dni": 12345, "name": "Number dni"}, "dni"),
        ({"dni": "nul\x00", "name": "NUL byte"}, "dni"),
        ({"dni": "1", "name": "surrogate \ud800"}, "name"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(client, body, field):
    response = post_json(client, body)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert User.objects.count() == 0


@pytest.mark.parametrize("raw", ["{bad json", '{"dni": "1", "name": "x"', "", "null", "[]", '"text"', "12"])
def test_malformed_or_non_object_json_is_400(client, raw):
    response = client.post(USERS, raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert isinstance(response.json(), dict)


def test_unsupported_media_type_is_415(client):
    response = client.post(USERS, "dni=1&name=x", content_type="text/plain")
    assert response.status_code == 415


def test_retrieve_returns_the_object(client, three_users):
    user = three_users[2]
    response = client.get(f"{USERS}{user.id}/")
    assert response.status_code == 200
    assert response.json() == {"id": user.id, "dni": user.dni, "name": user.name}


@pytest.mark.parametrize("user_id", ["999999", "abc", "0", "-1", "9" * 30, "1.5"])
def test_unknown_id_is_404_not_found(client, three_users, user_id):
    response = client.get(f"{USERS}{user_id}/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_no_update_or_delete(client, three_users, method):
    response = getattr(client, method)(f"{USERS}{three_users[0].id}/", {}, content_type="application/json")
    assert response.status_code == 405


def test_api_root_lists_the_users_endpoint(client):
    response = client.get("/api/")
    assert response.status_code == 200
    assert response.json()["users"].endswith(USERS)


def test_openapi_schema_describes_the_users_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/users/"]) >= {"get", "post"}
    assert "get" in paths["/api/users/{id}/"]
