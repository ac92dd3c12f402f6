"""The unpaged user list as a stream: rows leave as JSON while they are read, so a worker's memory
does not grow with the table (docs/benchmark.md, "Scale").

The bytes are those of the non-streamed response (the serializer's dicts through DRF's
JSONRenderer), because every chunk of rows is rendered by that same renderer and only the outer
brackets are spliced: keys, their order, separators, indentation (`Accept: application/json;
indent=4`) and every escape come from DRF's own code. tests/test_streamed_list.py compares both
byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain

from django.db import connections, transaction
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from rest_framework.renderers import JSONRenderer

from api.large_lists import Slot, acquire_slot

# Rows per FETCH from the server-side cursor: the worker holds one chunk (and its rendering) at a
# time. Small enough for the first byte to leave within milliseconds, large enough that the
# round trips and per-chunk rendering stay a small share of the work (docs/benchmark.md).
CHUNK_SIZE = 2000


def row_chunks(queryset: QuerySet, fields: tuple[str, ...], chunk_size: int | None = None) -> Iterator[list[dict]]:
    """The rows of `queryset` as lists of {field: value} dicts, `chunk_size` rows at a time.

    On PostgreSQL the rows come from a named (server-side) cursor, the one QuerySet.iterator()
    uses, read with FETCH. Inside a transaction it is declared WITHOUT HOLD, so PostgreSQL produces
    rows as they are fetched; in autocommit mode Django declares it WITH HOLD, and PostgreSQL would
    first materialise the whole result (about a second at a million rows) before the first row
    came back. The transaction (read-only work) and the cursor end with this generator: at the end
    of the table, on an error, or when the response is closed early (a client that went away).
    The cursor is the ORM's own SQL for the queryset, run without building model instances.
    """
    chunk_size = chunk_size or CHUNK_SIZE
    sql, params = queryset.values_list(*fields).query.sql_with_params()
    connection = connections[queryset.db]
    with transaction.atomic(using=queryset.db), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield [dict(zip(fields, row, strict=True)) for row in rows]


def json_array(
    chunks: Iterable[list], renderer: JSONRenderer, media_type: str | None, context: dict
) -> Iterator[bytes]:
    """The JSON array of every item in `chunks`, as `renderer.render(all_items)` would write it.

    Each chunk is rendered alone and its brackets are cut off: compact `[a,b]`, spaced `[a, b]`,
    indented `[\\n    a,\\n    b\\n]`. Pieces are joined with the renderer's own item separator
    (in the indented form the newline and indentation are already inside each piece).
    """
    indent = renderer.get_indent(media_type, context)
    separator = b"," if indent is not None or renderer.compact else b", "
    closing = b"\n]" if indent is not None else b"]"
    opened = False
    for chunk in chunks:
        rendered = renderer.render(chunk, media_type, context)
        yield (separator if opened else b"[") + rendered[1 : -len(closing)]
        opened = True
    yield closing if opened else b"[]"


class _Body:
    """The response body: Django iterates it and calls close() when the response is closed, which
    ends the cursor's transaction even if the body was never read to its end (or at all)."""

    def __init__(self, pieces: Iterator[bytes], source: Iterator, slot: Slot | None) -> None:
        self._pieces = pieces
        self._source = source
        self._slot = slot

    def __iter__(self) -> Iterator[bytes]:
        return self._pieces

    def close(self) -> None:
        try:
            self._pieces.close()
            self._source.close()
        finally:
            if self._slot is not None:
                self._slot.close()


def streamed_list(
    queryset: QuerySet,
    fields: tuple[str, ...],
    renderer: JSONRenderer,
    media_type: str | None,
    context: dict,
    head: bool = False,
) -> StreamingHttpResponse:
    """A 200 whose body is the JSON array of `queryset`'s rows, read and sent chunk by chunk.

    The first chunk is read here, before the response exists: a database that is down or
    unreachable still raises in the view and gets the API's usual error (503 with Retry-After).
    An error after that cannot change the status any more; the stream then stops without its
    closing bracket and the server closes the connection without the final chunk, which every
    HTTP client reports as an incomplete response (app/README.md, "Errors").

    `head`: a HEAD request gets the same status and headers, without reading the rest of the table
    (the server would read it all only to drop it). A list too large for the front server to
    buffer first takes a slot (api/large_lists.py), held until the response is closed.
    """
    slot = None if head else acquire_slot(queryset.db)
    try:
        chunks = row_chunks(queryset, fields)
        first = next(chunks, None)
    except BaseException:
        if slot is not None:
            slot.close()
        raise
    if head:
        chunks.close()
        return StreamingHttpResponse(iter(()), content_type=renderer.media_type)
    pending = chain([first], chunks) if first is not None else iter(())
    body = _Body(json_array(pending, renderer, media_type, context), chunks, slot)
    # The type DRF's JSONRenderer sends: no charset parameter.
    return StreamingHttpResponse(body, content_type=renderer.media_type)
