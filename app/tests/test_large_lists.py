"""Slots for unpaged lists too large for the front server to buffer (api/large_lists.py): slow
readers of them can hold at most APP_LARGE_LIST_SLOTS workers, and the list past that is a 503."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys

import pytest
from api import large_lists
from api.models import User
from django.db import connection
from gunicorn_server import APP_DIR

pytestmark = pytest.mark.django_db

USERS = "/api/users/"


@pytest.fixture
def large_table(settings, tmp_path, monkeypatch):
    """A run folder with one slot, and a table above the (lowered) size that needs one."""
    settings.LARGE_LIST_SLOT_DIR = str(tmp_path)
    settings.LARGE_LIST_SLOTS = 1
    monkeypatch.setattr(large_lists, "LARGE_LIST_ROWS", 2)
    User.objects.bulk_create(User(dni=f"L-{n}", name=f"Large {n}") for n in range(4))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE api_user")  # the size comes from the planner's estimate
    return tmp_path


def held_elsewhere(run_dir, number: int = 0) -> int:
    """A slot held by another request (another open file description, as another worker has)."""
    fd = os.open(run_dir / f"large-list-slot-{number}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_large_list_holds_a_slot_until_its_response_is_closed(client, large_table):
    response = client.get(USERS)
    assert response.status_code == 200
    with pytest.raises(BlockingIOError):
        held_elsewhere(large_table)
    assert len(b"".join(response.streaming_content).split(b'{"id":')) == 5  # read to the end: closed
    os.close(held_elsewhere(large_table))


def test_no_free_slot_is_503_with_retry_after(client, large_table):
    fd = held_elsewhere(large_table)
    try:
        response = client.get(USERS)
        assert response.status_code == 503
        assert response["Retry-After"] == "5"
        assert "page with ?after=" in response.json()["detail"]
        # Paging and the rest of the API are not affected.
        assert client.get(USERS, {"limit": 2}).status_code == 200
    finally:
        os.close(fd)
    assert client.get(USERS).status_code == 200


def test_a_small_list_needs_no_slot(client, large_table, monkeypatch):
    monkeypatch.setattr(large_lists, "LARGE_LIST_ROWS", 10)
    fd = held_elsewhere(large_table)
    try:
        assert client.get(USERS).status_code == 200
    finally:
        os.close(fd)


def test_without_a_run_folder_no_slot_is_taken(client, large_table, settings):
    settings.LARGE_LIST_SLOT_DIR = ""
    fd = held_elsewhere(large_table)
    try:
        assert client.get(USERS).status_code == 200
    finally:
        os.close(fd)


def test_slot_released_when_the_first_chunk_fails(client, large_table, monkeypatch):
    from api import streaming
    from django.db import OperationalError

    def unreachable(*args, **kwargs):
        raise OperationalError("gone")
        yield  # pragma: no cover

    monkeypatch.setattr(streaming, "row_chunks", unreachable)
    assert client.get(USERS).status_code == 503
    os.close(held_elsewhere(large_table))


def test_slots_default_to_one_fewer_than_the_workers():
    code = "import django; django.setup(); from django.conf import settings; print(settings.LARGE_LIST_SLOTS)"
    for workers, expected in [("", "1"), ("1", "1"), ("2", "1"), ("4", "3")]:
        env = {**os.environ, "WEB_CONCURRENCY": workers, "DJANGO_SETTINGS_MODULE": "settings_for_tests"}
        env.pop("APP_LARGE_LIST_SLOTS", None)
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=APP_DIR,
            env={**env, "PYTHONPATH": "tests"},
            text=True,
            capture_output=True,
            check=True,
        )
        assert out.stdout.strip() == expected
