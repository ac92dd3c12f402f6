"""The read hot paths: one user by primary key, and a page of users, with the SQL compiled once
per process.

Django builds and compiles a QuerySet to SQL on every evaluation. For a primary-key lookup that
is the largest single cost of the request: callgrind counts 2.44 M instructions per retrieve
through `queryset.get()` and 1.59 M with the SQL compiled once (README, "Benchmark"). The SQL is
still the ORM's own, compiled from the model, so a renamed table or column cannot drift from it;
only the primary key changes between executions, and it is passed as a query parameter.
The pages of the list (api/pagination.py) are compiled the same way: the ORM's SELECT for the
ordered table, with LIMIT and OFFSET (standard SQL, PostgreSQL and SQLite alike) as parameters.
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


@cache
def _page_sql(alias: str, fields: tuple[str, ...], keyset: bool) -> str:
    queryset = User.objects.using(alias).values_list(*fields).order_by("pk")
    expected = []
    if keyset:
        queryset = queryset.filter(pk__gt=_PLACEHOLDER_PK)
        expected = [_PLACEHOLDER_PK]
    sql, params = queryset.query.get_compiler(using=alias).as_sql()
    if list(params) != expected:
        raise RuntimeError(f"expected {expected} as the parameters of {sql!r}, got {params!r}")
    return sql + (" LIMIT %s" if keyset else " LIMIT %s OFFSET %s")


def _rows(alias: str, sql: str, params: list, fields: tuple[str, ...]) -> list[dict]:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return [dict(zip(fields, row, strict=True)) for row in cursor.fetchall()]


def users_after(after: int, limit: int, fields: tuple[str, ...], alias: str = "default") -> list[dict]:
    """Up to `limit` users with an id above `after`, by id: an index range scan at any depth."""
    return _rows(alias, _page_sql(alias, fields, keyset=True), [after, limit], fields)


def users_at(offset: int, limit: int, fields: tuple[str, ...], alias: str = "default") -> list[dict]:
    """Up to `limit` users from position `offset` (0-based) in id order; OFFSET skips rows."""
    return _rows(alias, _page_sql(alias, fields, keyset=False), [limit, offset], fields)


@cache
def _count_sql(alias: str) -> str:
    """PostgreSQL: a count that stops after %s rows, and the planner's estimate of the table's rows,
    in one round trip. The estimate is what the planner itself derives from the statistics
    (pg_class.reltuples per relpages, both as of the last VACUUM or ANALYZE) scaled to the table's
    current number of pages; -1 for a table never analysed."""
    table = connections[alias].ops.quote_name(User._meta.db_table)
    # The table's name comes from the model, quoted; every value is a parameter.
    return (
        f"SELECT (SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT %s) AS bounded), "  # noqa: S608
        "(SELECT CASE WHEN relpages > 0 THEN reltuples / relpages * "
        "(pg_relation_size(oid) / current_setting('block_size')::integer) ELSE reltuples END "
        "FROM pg_class WHERE oid = %s::regclass)"
    )


def count_users(exact_up_to: int, alias: str = "default") -> tuple[int, bool]:
    """(count, estimated): the number of users, exact when there are at most `exact_up_to` of
    them (counting stops after one more), else the planner's estimate and True. SQLite (local
    development) has no estimate to offer: its count is always exact."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            table = connection.ops.quote_name(User._meta.db_table)
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608  (the model's table, quoted)
            return cursor.fetchone()[0], False
        cursor.execute(_count_sql(alias), [exact_up_to + 1, User._meta.db_table])
        bounded, estimate = cursor.fetchone()
    if bounded <= exact_up_to:
        return bounded, False
    # Never below what was counted (an estimate from before many inserts, or none at all: -1).
    return max(round(estimate), bounded), True
