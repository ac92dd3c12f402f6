"""The unpaged list is streamed (api/streaming.py): the bytes of the response it replaced, a
worker's memory that does not grow with the table, and a visible failure when the database goes
away in the middle of it."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time

import pytest
from api import streaming
from api.models import User
from api.serializers import UserSerializer
from api.views import UserViewSet
from conftest import BIG_TABLE_ROWS
from django.db import OperationalError
from gunicorn_server import APP_DIR, gunicorn, production_env
from rest_framework.renderers import JSONRenderer

pytestmark = pytest.mark.django_db

USERS = "/api/users/"

# Names a JSON encoder must escape or pass through untouched: quotes, backslashes, control
# characters, the two separators DRF escapes for JavaScript, non-ASCII letters, a character
# outside the BMP, markup. Stored directly, as rows from before the name rules were (the API
# rejects control characters now), and at most 30 characters, the column's limit.
AWKWARD_NAMES = [
    'say "hi" \\ back\\slash',
    "tab\tnew\nline\rcr\x08\x0c",
    "ctl \x01 \x1f del \x7f",
    "sep \u2028 para \u2029",
    "Ñandú José Müller 漢字",
    "emoji \U0001f600 astral",
    "</script><b>&amp;",
    "slash / and 'single'",
]
ACCEPTS = [None, "application/json", "application/json; indent=4", "application/json; indent=0", "*/*"]


@pytest.fixture
def awkward_users() -> list[User]:
    return User.objects.bulk_create(User(dni=f"E-{n}", name=name) for n, name in enumerate(AWKWARD_NAMES))


def non_streamed(media_type: str) -> bytes:
    """The body as the list was answered before streaming: DRF's ListModelMixin.list (the
    serializer over model instances) rendered whole by the JSONRenderer."""
    return JSONRenderer().render(UserSerializer(User.objects.order_by("id"), many=True).data, media_type, {})


def get_streamed(client, accept: str | None) -> bytes:
    response = client.get(USERS, **({"HTTP_ACCEPT": accept} if accept else {}))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/json"
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("chunk_size", [2, 3, 2000])
def test_streamed_body_is_byte_for_byte_the_non_streamed_one(client, awkward_users, monkeypatch, accept, chunk_size):
    # Small chunks put chunk boundaries between the awkward rows; 2000 is the real size.
    monkeypatch.setattr(streaming, "CHUNK_SIZE", chunk_size)
    media_type = accept if accept and accept.startswith("application/json") else "application/json"
    body = get_streamed(client, accept)
    assert body == non_streamed(media_type)
    assert [user["name"] for user in json.loads(body)] == AWKWARD_NAMES


@pytest.mark.parametrize("accept", ACCEPTS)
def test_empty_table_streams_the_same_empty_array(client, accept):
    media_type = accept if accept and accept.startswith("application/json") else "application/json"
    assert get_streamed(client, accept) == non_streamed(media_type) == b"[]"


def test_streamed_fields_are_the_serializers(awkward_users):
    """The list reads columns, not model instances: the same keys in the same order."""
    assert list(UserViewSet.list_fields) == list(UserSerializer().to_representation(awkward_users[0]))


def test_head_answers_like_get_without_reading_the_table(client, awkward_users, monkeypatch):
    real, pulled = streaming.row_chunks, []

    def counting(*args, **kwargs):
        for chunk in real(*args, **kwargs):
            pulled.append(chunk)
            yield chunk

    monkeypatch.setattr(streaming, "row_chunks", counting)
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 2)
    response = client.head(USERS)
    assert len(pulled) == 1  # the first chunk only: a database error would still be a 503
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert b"".join(response.streaming_content) == b""


def test_database_down_before_the_first_byte_is_the_usual_503(client, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OperationalError("could not connect to server")
        yield  # pragma: no cover  (a generator, like row_chunks)

    monkeypatch.setattr(streaming, "row_chunks", unreachable)
    response = client.get(USERS)
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json() == {"detail": "Database unavailable, retry later"}


def test_an_error_after_the_first_chunk_never_closes_the_array(client, awkward_users, monkeypatch):
    """Once the status is sent the error cannot become a 500: the body stops short of its closing
    bracket, so no client can take the part for the whole (through a server, the connection is
    also closed without the final chunk: test_database_lost_mid_stream_...)."""
    real = streaming.row_chunks

    def failing_after_one(*args, **kwargs):
        chunks = real(*args, **kwargs)
        yield next(chunks)
        chunks.close()
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(streaming, "row_chunks", failing_after_one)
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 2)
    response = client.get(USERS)
    assert response.status_code == 200
    pieces = iter(response.streaming_content)
    first = next(pieces)
    with pytest.raises(OperationalError):
        next(pieces)
    assert first.startswith(b'[{"id":')
    assert not first.endswith(b"]")


# Run in a process of its own: its peak RSS before and after one unpaged list of the big table.
MEASURE_MEMORY = """
import io, json, resource, sys
import django
django.setup()
from demo.wsgi import application

def get(path):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path.partition("?")[0], "QUERY_STRING": path.partition("?")[2],
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "wsgi.input": io.BytesIO(),
               "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.errors": sys.stderr}
    status = []
    body = application(environ, lambda s, h, e=None: status.append(s))
    size, rows, last = 0, 0, b""
    for piece in body:
        size, rows, last = size + len(piece), rows + piece.count(b'{"id":'), piece[-1:] or last
    body.close()
    return status[0], size, rows, last

get("/api/users/?limit=1000")  # imports, the connection, the renderer
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
status, size, rows, last = get("/api/users/")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("RESULT " + json.dumps({"status": status, "bytes": size, "rows": rows, "last": last.decode(),
                              "growth_kib": after - before}))
"""
# The growth allowed while the whole table goes through the process: one chunk of rows and its
# rendering, the driver's buffers, the allocator's slack. The list held in memory grew the peak by
# about 90 MB at this size before streaming.
MEMORY_GROWTH_BOUND_KIB = 16 * 1024


@pytest.mark.postgres
def test_memory_of_a_list_of_the_big_table_stays_bounded(big_table_url):
    env = production_env(big_table_url, DJANGO_LOG_LEVEL="WARNING")
    out = subprocess.run(
        [sys.executable, "-c", MEASURE_MEMORY], cwd=APP_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.split("RESULT ", 1)[1])
    assert (result["status"], result["rows"], result["last"]) == ("200 OK", BIG_TABLE_ROWS, "]")
    assert result["growth_kib"] < MEMORY_GROWTH_BOUND_KIB, result


def backend_of_the_stream(cursor, database: str) -> int | None:
    """The server process of a worker that is between two FETCHes of an open cursor."""
    cursor.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND state = 'idle in transaction' "
        "AND query LIKE 'FETCH%%'",
        [database],
    )
    row = cursor.fetchone()
    return row[0] if row else None


@pytest.mark.postgres
def test_database_lost_mid_stream_ends_the_response_incomplete(big_table_url):
    """Under gunicorn: the server process of the stream is terminated while the client has read
    only the first bytes. The client then gets a 200 whose chunked body never ends (an incomplete
    read in any HTTP client), and the worker answers the next request normally."""
    import psycopg2

    database = big_table_url.rsplit("/", 1)[1]
    with gunicorn(production_env(big_table_url), workers=1, threads=1) as server:
        port = int(server.url.rsplit(":", 1)[1])
        sock = socket.socket()
        # A small receive window, set before connecting: the worker blocks in its writes with the
        # cursor open, instead of handing the whole list to the kernel's buffers.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.connect(("127.0.0.1", port))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.sock = sock
        connection.request("GET", USERS)
        response = connection.getresponse()
        assert response.status == 200
        assert response.read(7) == b'[{"id":'

        admin = psycopg2.connect(big_table_url)
        admin.autocommit = True
        with admin.cursor() as cursor:
            deadline = time.monotonic() + 30
            while (pid := backend_of_the_stream(cursor, database)) is None:
                assert time.monotonic() < deadline, "the stream's cursor never showed in pg_stat_activity"
                time.sleep(0.05)
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        admin.close()

        with pytest.raises(http.client.IncompleteRead) as incomplete:
            response.read()
        assert not incomplete.value.partial.endswith(b"]")
        connection.close()

        again, statuses = http.client.HTTPConnection("127.0.0.1", port, timeout=30), []
        for _ in range(2):
            again.request("GET", f"{USERS}?limit=1")
            answer = again.getresponse()
            answer.read()
            statuses.append(answer.status)
        again.close()
        # The worker had already dropped the lost connection: no request pays for it.
        assert statuses == [200, 200]
    assert any("Error handling request" in line for line in server.output)
