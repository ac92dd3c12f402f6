"""The retrieve hot path (api/queries.py) finds what the ORM finds, with one query at most."""

from __future__ import annotations

import pytest
from api.models import User
from api.queries import parse_pk, user_by_pk

pytestmark = pytest.mark.django_db

BIGINT_MAX = 2**63 - 1


@pytest.fixture
def users() -> list[User]:
    return [User.objects.create(dni=f"q-{n}", name=f"Query user {n}") for n in range(3)]


def test_finds_what_the_orm_finds_in_one_query(users, django_assert_num_queries):
    for expected in users:
        with django_assert_num_queries(1):
            found = user_by_pk(str(expected.pk))
        assert (found.pk, found.dni, found.name) == (expected.pk, expected.dni, expected.name)
        assert found._state.adding is False  # a loaded row, as the ORM returns it


def test_a_missing_user_is_none_after_one_query(users, django_assert_num_queries):
    missing = max(u.pk for u in users) + 1
    with django_assert_num_queries(1):
        assert user_by_pk(str(missing)) is None


@pytest.mark.parametrize("raw", ["abc", "1.5", "", "9" * 30, str(BIGINT_MAX + 1), str(-BIGINT_MAX - 2), None])
def test_an_impossible_key_is_none_without_a_query(users, raw, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert user_by_pk(raw) is None


@pytest.mark.parametrize(("raw", "expected"), [("42", 42), (" 7 ", 7), (str(BIGINT_MAX), BIGINT_MAX), (5, 5)])
def test_keys_parse_as_the_orm_parses_them(raw, expected):
    assert parse_pk(raw) == expected


def test_the_retrieve_endpoint_makes_one_query(client, users, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get(f"/api/users/{users[0].pk}/")
    assert response.json() == {"id": users[0].pk, "dni": "q-0", "name": "Query user 0"}
