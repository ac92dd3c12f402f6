"""Paging of the user list, with a cost that does not grow with the table (app/README.md, "Paging").

Without paging parameters the list is a plain JSON array, which clients of the original API depend
on (it is streamed: api/streaming.py). With them, two forms:

- `?limit=N&offset=M`: DRF's envelope `{"count", "next", "previous", "results"}` plus
  `count_estimated`. The table is not counted: `count` is exact up to `exact_count_max` rows (a
  count that stops there) and above that is the planner's estimate, flagged `count_estimated:
  true`. `next` comes from reading one row more than the page, never from the count, so an
  estimate cannot end the paging early. OFFSET still skips M rows: deep pages cost more.
- `?after=ID&limit=N` (keyset): the N users with an id above ID, `{"next", "results"}`, where
  `next` carries the last id of the page. An index range scan: the same cost at any depth, and a
  row inserted while a client pages is never seen twice nor makes another row be skipped.

Invalid values are a 400 naming the parameter, like an invalid field of a create.
"""

from __future__ import annotations

import re

from django.http import QueryDict
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

from api.queries import count_users, users_after, users_at

# The id column is a PostgreSQL bigint; larger values could never match (and would be a database
# error, not a client's).
BIGINT_MAX = 2**63 - 1
_DIGITS = re.compile(r"-?[0-9]+")


def parse_parameters(query: QueryDict, minimums: dict[str, int]) -> dict[str, int]:
    """The integer query parameters named in `minimums`, checked; a ValidationError (400) names
    every invalid one, in DRF's shape: {"limit": ["A valid integer is required."]}. Parsed by
    hand: a DRF Serializer for three integers costs more than the page's query."""
    values, errors = {}, {}
    for name, minimum in minimums.items():
        if name not in query:
            continue
        raw = query[name]
        if not _DIGITS.fullmatch(raw):
            errors[name] = ["A valid integer is required."]
            continue
        # Twenty digits are past any bigint; longer strings are not converted at all.
        value = int(raw) if len(raw) <= 21 else (-BIGINT_MAX if raw.startswith("-") else BIGINT_MAX + 1)
        if value < minimum:
            errors[name] = [f"Ensure this value is greater than or equal to {minimum}."]
        elif value > BIGINT_MAX:
            errors[name] = [f"Ensure this value is less than or equal to {BIGINT_MAX}."]
        else:
            values[name] = value
    if errors:
        raise ValidationError(errors)
    return values


class UserListPagination(LimitOffsetPagination):
    """Pages only when asked, in the limit/offset or the keyset form (see the module docstring)."""

    default_limit = None
    max_limit = 1000
    # `after` without `limit`.
    keyset_default_limit = 100
    after_query_param = "after"
    after_query_description = "Keyset paging: the users with an id above this one (start with 0)."
    # Above this many rows `count` is the planner's estimate. Counting stops here, so the exact
    # part costs at most this many index entries per request.
    exact_count_max = 1000

    def paging_requested(self, request: Request) -> bool:
        params = request.query_params
        return any(name in params for name in (self.limit_query_param, self.offset_query_param, self.after_query_param))

    def page(self, request: Request, fields: tuple[str, ...], alias: str) -> dict:
        """The page `request` asks for, as the response body."""
        self.request = request
        values = parse_parameters(
            request.query_params, {self.limit_query_param: 1, self.offset_query_param: 0, self.after_query_param: 0}
        )
        if self.after_query_param in values and self.offset_query_param in values:
            conflict = "Cannot be combined with after: page by one or the other."
            raise ValidationError({self.offset_query_param: [conflict]})
        if self.offset_query_param in values and self.limit_query_param not in values:
            raise ValidationError({self.limit_query_param: ["Required with offset."]})
        if "after" in values:
            limit = min(values.get("limit", self.keyset_default_limit), self.max_limit)
            return self.keyset_page(values["after"], limit, fields, alias)
        self.limit = min(values["limit"], self.max_limit)
        self.offset = values.get("offset", 0)
        return self.offset_page(fields, alias)

    def keyset_page(self, after: int, limit: int, fields: tuple[str, ...], alias: str) -> dict:
        rows = users_after(after, limit + 1, fields, alias)
        next_link = None
        if len(rows) > limit:
            rows = rows[:limit]
            url = replace_query_param(self.request.build_absolute_uri(), self.limit_query_param, limit)
            next_link = replace_query_param(url, self.after_query_param, rows[-1]["id"])
        return {"next": next_link, "results": rows}

    def offset_page(self, fields: tuple[str, ...], alias: str) -> dict:
        rows = users_at(self.offset, self.limit + 1, fields, alias)
        more = len(rows) > self.limit
        rows = rows[: self.limit]
        seen = self.offset + len(rows)
        if not more and (rows or self.offset == 0):
            # This page reached the end of the table: the count is known without a query.
            self.count, estimated = seen, False
        else:
            # Rows up to the end of this page (and one after it) exist: no need to count them.
            known = seen + more
            self.count, estimated = count_users(self.exact_count_max if known <= self.exact_count_max else 0, alias)
            if estimated:
                self.count = max(self.count, known)
        return {
            "count": self.count,
            "count_estimated": estimated,
            "next": self.next_offset_link() if more else None,
            "previous": self.get_previous_link(),
            "results": rows,
        }

    def next_offset_link(self) -> str:
        url = replace_query_param(self.request.build_absolute_uri(), self.limit_query_param, self.limit)
        return replace_query_param(url, self.offset_query_param, self.offset + self.limit)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        after = {
            "name": self.after_query_param,
            "required": False,
            "in": "query",
            "description": self.after_query_description,
            "schema": {"type": "integer", "minimum": 0},
        }
        return [*super().get_schema_operation_parameters(view), after]

    def get_paginated_response_schema(self, schema: dict) -> dict:
        """Either page form, or (without paging parameters) the plain array."""
        offset_page = super().get_paginated_response_schema(schema)
        offset_page["required"] = ["count", "count_estimated", "next", "previous", "results"]
        offset_page["properties"]["count_estimated"] = {
            "type": "boolean",
            "description": f"true: count is the planner's estimate (above {self.exact_count_max} rows)",
        }
        keyset_page = {
            "type": "object",
            "required": ["next", "results"],
            "properties": {"next": offset_page["properties"]["next"], "results": schema},
        }
        return {"oneOf": [schema, offset_page, keyset_page]}
