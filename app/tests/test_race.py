"""Two creates of the same dni at the same moment: the unique constraint decides, never a 500.
Also when the two spell it differently (case, full-width): both are normalised before the INSERT.

Runs gunicorn with two worker processes against PostgreSQL, so the requests really run in
parallel on separate connections.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from api.models import User
from gunicorn_server import gunicorn, production_env

PAIRS = 20


def post_user(url: str, dni: str) -> tuple[int, dict]:
    body = json.dumps({"dni": dni, "name": "Racer"}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310  (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        return error.code, json.loads(body) if body.startswith(b"{") else {"raw": body[:200].decode(errors="replace")}


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "spell", [lambda dni: (dni, dni), lambda dni: (dni.lower(), full_width(dni))], ids=["same", "two-spellings"]
)
def test_concurrent_duplicate_creates_give_one_201_and_one_400(postgres_url, spell):
    with gunicorn(production_env(postgres_url), workers=2, threads=2) as server:
        url = f"{server.url}/api/users/"
        for pair in range(PAIRS):
            spellings = spell(f"RACE-{pair}")
            barrier = threading.Barrier(2)
            results: list[tuple[int, dict]] = []

            def create(dni: str, barrier: threading.Barrier = barrier, results: list = results) -> None:
                barrier.wait()
                results.append(post_user(url, dni))

            threads = [threading.Thread(target=create, args=(dni,)) for dni in spellings]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            statuses = sorted(status for status, _ in results)
            assert statuses == [201, 400], results
            assert {"detail": "User already exists"} in [body for _, body in results]
    assert User.objects.filter(dni__startswith="RACE-").count() == PAIRS
