"""Slots for unpaged lists too large for the front server to hold, so slow readers of them can
never occupy every gunicorn worker (docs/benchmark.md, "A streamed list and slow readers").

nginx takes a response from gunicorn into its buffers and a temporary file of up to 32 MiB
(serve.py, MAX_TEMP_FILE) and sends it at the client's pace: for a list that fits, the worker is
free as soon as it has written the list, whoever reads it. A larger list cannot be held there, and
the worker then writes only as fast as the client reads (measured: for the whole read, not just
the part beyond 32 MiB, because nginx empties its file before it reads on). With one thread per
worker, a slow reader then holds a whole worker, and two would hold a pod of two.

So a list that may outgrow that space (the planner expects more than LARGE_LIST_ROWS rows) needs
one of APP_LARGE_LIST_SLOTS slots, by default one fewer than the workers: at least one worker
always stays for every other request. Without a free slot the answer is 503 with Retry-After, at
once, before anything is read. A slot is an exclusive lock on a file in the image's run folder
(APP_RUN_DIR, set by serve.py), shared by the worker processes and released with the response, or
by the kernel if a worker dies. Without a run folder (gunicorn alone, runserver, tests) there is
no front server with a limit to protect and no slot is needed.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from django.conf import settings
from rest_framework import exceptions, status

from api.queries import count_users

# Rows above which an unpaged list may not fit the front server's 32 MiB: a user's JSON is about
# 60 bytes with short names and up to about 160 with the longest (30 characters of two-byte UTF-8).
LARGE_LIST_ROWS = 200_000


class LargeListBusy(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = (
        "Too many large unpaged lists are being sent at the moment; retry later, or page with ?after=0&limit=1000."
    )
    default_code = "large_list_busy"
    # Sent as Retry-After by DRF's exception handler. A large list takes seconds to send.
    wait = 5


class Slot:
    """A held slot: the open, locked file. close() releases it (idempotent)."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops its lock
            self._fd = None


def acquire_slot(alias: str) -> Slot | None:
    """None when no slot is needed (no run folder, or a list the front server can hold); a Slot
    when one was free; LargeListBusy (503) otherwise."""
    run_dir, slots = settings.LARGE_LIST_SLOT_DIR, settings.LARGE_LIST_SLOTS
    if not run_dir:
        return None
    # The planner's estimate, not a count: counting would read up to LARGE_LIST_ROWS entries on
    # every request. A table never analysed has none and counts as small until autovacuum runs.
    rows, _ = count_users(0, alias)
    if rows <= LARGE_LIST_ROWS:
        return None
    for number in range(slots):
        fd = os.open(Path(run_dir) / f"large-list-slot-{number}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Slot(fd)
    raise LargeListBusy()
