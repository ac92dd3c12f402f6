"""Paging of the user list without counting the table (api/pagination.py): the limit/offset
envelope with a bounded or estimated count, the keyset form, and 400s naming the parameter."""

from __future__ import annotations

import pytest
from api.models import User
from api.pagination import BIGINT_MAX, UserListPagination
from django.db import connection

pytestmark = pytest.mark.django_db

USERS = "/api/users/"


def make_users(count: int, start: int = 0) -> list[User]:
    return User.objects.bulk_create(User(dni=f"P-{n}", name=f"Paged {n}") for n in range(start, start + count))


def ids(rows: list[dict]) -> list[int]:
    return [row["id"] for row in rows]


def analyze() -> None:
    """The planner's statistics, as autovacuum keeps them in production."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE api_user")


def test_offset_page_keeps_the_envelope(client):
    users = make_users(5)
    body = client.get(USERS, {"limit": 2, "offset": 2}).json()
    assert list(body) == ["count", "count_estimated", "next", "previous", "results"]
    assert (body["count"], body["count_estimated"]) == (5, False)
    assert ids(body["results"]) == [u.id for u in users[2:4]]
    assert body["next"] == "http://testserver/api/users/?limit=2&offset=4"
    assert body["previous"] == "http://testserver/api/users/?limit=2"


def test_last_page_needs_no_count_query(client, django_assert_num_queries):
    make_users(5)
    with django_assert_num_queries(1):
        body = client.get(USERS, {"limit": 2, "offset": 4}).json()
    assert (body["count"], body["count_estimated"], body["next"]) == (5, False, None)


def test_offset_past_the_end_is_an_empty_page_with_the_count(client):
    make_users(3)
    body = client.get(USERS, {"limit": 2, "offset": 10}).json()
    assert (body["count"], body["count_estimated"], body["results"], body["next"]) == (3, False, [], None)


@pytest.mark.postgres
def test_count_above_the_threshold_is_the_planners_estimate_and_flagged(client, monkeypatch):
    monkeypatch.setattr(UserListPagination, "exact_count_max", 5)
    make_users(40)
    analyze()
    body = client.get(USERS, {"limit": 3}).json()
    assert body["count_estimated"] is True
    # ANALYZE read the 40 rows; an estimate is never below the rows the page has shown to exist.
    assert body["count"] == 40
    assert len(body["results"]) == 3
    assert body["next"]


@pytest.mark.postgres
def test_count_up_to_the_threshold_is_exact(client, monkeypatch):
    monkeypatch.setattr(UserListPagination, "exact_count_max", 5)
    make_users(5)
    analyze()
    body = client.get(USERS, {"limit": 2}).json()
    assert (body["count"], body["count_estimated"]) == (5, False)


@pytest.mark.postgres
def test_estimate_never_below_what_the_page_proves(client, monkeypatch):
    """Statistics from before many inserts (or none: never analysed) cannot make the count
    smaller than the rows up to this page and the one after it."""
    monkeypatch.setattr(UserListPagination, "exact_count_max", 5)
    make_users(10)
    analyze()
    make_users(30, start=10)
    body = client.get(USERS, {"limit": 4, "offset": 20}).json()
    assert body["count_estimated"] is True
    assert body["count"] >= 25
    assert ids(body["results"]) == ids(client.get(USERS, {"after": 0, "limit": 40}).json()["results"][20:24])


def test_sqlite_counts_exactly_above_the_threshold(client, monkeypatch, db_backend):
    if db_backend != "sqlite":
        pytest.skip("SQLite only: PostgreSQL estimates above the threshold (tests above)")
    monkeypatch.setattr(UserListPagination, "exact_count_max", 5)
    make_users(12)
    body = client.get(USERS, {"limit": 3}).json()
    assert (body["count"], body["count_estimated"]) == (12, False)


def test_keyset_pages_follow_next_links_to_the_end(client):
    users = make_users(7)
    body = client.get(USERS, {"after": 0, "limit": 3}).json()
    assert list(body) == ["next", "results"]
    seen = ids(body["results"])
    while body["next"]:
        body = client.get(body["next"]).json()
        seen += ids(body["results"])
    assert seen == [u.id for u in users]


def test_keyset_pages_cover_every_row_once_while_rows_are_inserted(client):
    """Rows created between two pages (through the API, as clients do) land after the pages
    already read: a client paging with `next` sees every row exactly once, the new ones included."""
    make_users(10)
    seen, created = [], 0
    url = f"{USERS}?after=0&limit=3"
    while url:
        body = client.get(url).json()
        seen += ids(body["results"])
        url = body["next"]
        if created < 8:
            for _ in range(2):
                created += 1
                new = {"dni": f"NEW-{created}", "name": "Inserted"}
                response = client.post(USERS, new, content_type="application/json")
                assert response.status_code == 201
    assert len(seen) == len(set(seen)) == 18
    assert sorted(seen) == list(User.objects.order_by("id").values_list("id", flat=True))


def test_keyset_page_is_one_query_at_any_depth(client, django_assert_num_queries):
    users = make_users(6)
    for after in (0, users[2].id, users[-1].id):
        with django_assert_num_queries(1):
            assert client.get(USERS, {"after": after, "limit": 2}).status_code == 200


def test_keyset_defaults_and_caps_its_limit(client, monkeypatch):
    monkeypatch.setattr(UserListPagination, "keyset_default_limit", 2)
    monkeypatch.setattr(UserListPagination, "max_limit", 3)
    make_users(5)
    assert len(client.get(USERS, {"after": 0}).json()["results"]) == 2
    body = client.get(USERS, {"after": 0, "limit": 100}).json()
    assert len(body["results"]) == 3
    assert "limit=3" in body["next"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"limit": " 5"}, "limit"),
        ({"limit": "1e3"}, "limit"),
        ({"limit": "٣"}, "limit"),  # an Arabic-Indic digit: int() would take it
        ({"limit": "9" * 5000}, "limit"),  # longer than int() converts
        ({"limit": "5", "offset": "-1"}, "offset"),
        ({"limit": "5", "offset": "x"}, "offset"),
        ({"limit": "5", "offset": str(BIGINT_MAX + 1)}, "offset"),
        ({"offset": "5"}, "limit"),
        ({"after": "x"}, "after"),
        ({"after": "-1"}, "after"),
        ({"after": str(BIGINT_MAX + 1), "limit": "2"}, "after"),
        ({"after": "1", "limit": "0"}, "limit"),
        ({"after": "1", "offset": "2", "limit": "2"}, "offset"),
    ],
)
def test_invalid_paging_parameters_are_400_naming_the_parameter(client, query, field):
    make_users(2)
    response = client.get(USERS, query)
    assert response.status_code == 400
    body = response.json()
    assert list(body) == [field]
    assert isinstance(body[field], list)
    assert body[field][0]


def test_every_invalid_parameter_is_named_at_once(client):
    assert set(client.get(USERS, {"limit": "x", "after": "-2"}).json()) == {"limit", "after"}


def test_largest_values_are_accepted(client):
    make_users(2)
    assert client.get(USERS, {"after": BIGINT_MAX, "limit": 1}).json() == {"next": None, "results": []}
    assert client.get(USERS, {"limit": 1, "offset": BIGINT_MAX}).json()["results"] == []


def test_schema_documents_both_page_forms(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/users/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"limit", "offset", "after"}
    reference = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    shapes = schema["components"]["schemas"][reference.rsplit("/", 1)[1]]["oneOf"]
    assert shapes[0]["type"] == "array"
    assert "count_estimated" in shapes[1]["properties"]
    assert set(shapes[2]["properties"]) == {"next", "results"}
