"""The retrieve hot path: one user by primary key, with the SQL compiled once per process.

Django builds and compiles a QuerySet to SQL on every evaluation. For a primary-key lookup that
is the largest single cost of the request: callgrind counts 2.44 M instructions per retrieve
through `queryset.get()` and 1.59 M with the SQL compiled once (README, "Benchmark"). The SQL is
still the ORM's own, compiled from the model, so a renamed table or column cannot drift from it;
only the primary key changes between executions, and it is passed as a query parameter.
"""

from __future__ import annotations

from functools import cache

from django.core.exceptions import ValidationError
from django.db import connections

from api.models import User

# Every column, in the model's order, which is the order User.from_db() takes values in.
FIELDS = tuple(field.attname for field in User._meta.concrete_fields)
_PLACEHOLDER_PK = 0


@cache
def _select_by_pk_sql(alias: str) -> str:
    query = User.objects.using(alias).filter(pk=_PLACEHOLDER_PK).values_list(*FIELDS).order_by().query
    sql, params = query.get_compiler(using=alias).as_sql()
    if list(params) != [_PLACEHOLDER_PK]:
        raise RuntimeError(f"expected the primary key as the only parameter of {sql!r}, got {params!r}")
    return sql


def parse_pk(raw: object, alias: str = "default") -> int | None:
    """The primary key the ORM would look up for `raw`, or None where it would find nothing:
    not an integer, or outside the column's range (the ORM answers those without a query too)."""
    field = User._meta.pk
    try:
        pk = field.to_python(raw)
    except ValidationError:
        return None
    if pk is None:
        return None
    low, high = connections[alias].ops.integer_field_range(field.get_internal_type())
    return pk if low <= pk <= high else None


def user_by_pk(raw_pk: object, alias: str = "default") -> User | None:
    """The user with this primary key, or None; a single query, or none for an impossible key."""
    pk = parse_pk(raw_pk, alias)
    if pk is None:
        return None
    with connections[alias].cursor() as cursor:
        cursor.execute(_select_by_pk_sql(alias), [pk])
        row = cursor.fetchone()
    return None if row is None else User.from_db(alias, FIELDS, row)
