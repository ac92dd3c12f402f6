"""Slow, hostile clients against a running server, while a normal client probes it.

Opens N connections that each send half a request and then trickle a byte now and then: half of
them trickle the request header (slowloris, one byte every --pace seconds), half send a complete
header and trickle the body (R-U-Dead-Yet, one byte every --body-pace seconds). Meanwhile a normal
client calls the probe paths on fresh connections and records each answer's latency. At the end
it reports the probes' latencies and when the server closed each slow connection (or that it did
not).

Used by the image tier (tests/image) and by hand, to compare server designs (docs/benchmark.md):
    python app/bench/slow_clients.py http://127.0.0.1:8000 --connections 200 --seconds 40 \
        --probe /healthz --probe /api/users/1/
Only loopback or the test's own containers are targets: the loops are bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# What a slow connection sends, one byte at a time after its opening part.
HEADER_TRICKLE = b"X-Trickle: " + b"a" * 4000
# A body the API would accept if it ever arrived; the declared length stays small, as an API body is.
BODY = json.dumps({"dni": "SLOW-1", "name": "Slow client"}).encode()
BODY_TRICKLE = BODY + b" " * 900


@dataclass
class Report:
    connections: int
    seconds: float
    probes: list[dict] = field(default_factory=list)
    # Seconds from a slow connection's open to the server closing it; None when still open at the end.
    closed_after: list[float | None] = field(default_factory=list)
    refused: int = 0

    @property
    def probe_latencies(self) -> list[float]:
        return [p["latency"] for p in self.probes if p["latency"] is not None]

    @property
    def failed_probes(self) -> list[dict]:
        return [p for p in self.probes if p["latency"] is None or not 200 <= p["status"] < 500]

    @property
    def still_open(self) -> int:
        return sum(1 for t in self.closed_after if t is None)

    def summary(self) -> dict:
        latencies = sorted(self.probe_latencies)
        closed = sorted(t for t in self.closed_after if t is not None)
        return {
            "slow_connections": self.connections,
            "refused": self.refused,
            "probes": len(self.probes),
            "failed_probes": len(self.failed_probes),
            "probe_p50_s": round(statistics.median(latencies), 3) if latencies else None,
            "probe_max_s": round(latencies[-1], 3) if latencies else None,
            "closed": len(closed),
            "closed_after_max_s": round(closed[-1], 1) if closed else None,
            "closed_after_median_s": round(statistics.median(closed), 1) if closed else None,
            "still_open": self.still_open,
        }


def _client_ssl(scheme: str) -> ssl.SSLContext | None:
    if scheme != "https":
        return None
    # Throwaway certificates in tests: the channel is what is under test, not the chain.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _slow_connection(
    host: str, port: int, context: ssl.SSLContext | None, in_body: bool, pace: float, deadline: float, report: Report
) -> None:
    """One slow client: `pace` seconds between two bytes of its header, or of its body."""
    opened = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), 10)
    except (TimeoutError, OSError):
        report.refused += 1
        return
    index = len(report.closed_after)
    report.closed_after.append(None)
    if in_body:
        head = (
            f"POST /api/users/ HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(BODY_TRICKLE)}\r\n\r\n"
        ).encode()
        trickle = BODY_TRICKLE
    else:
        head, trickle = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n".encode(), HEADER_TRICKLE

    async def watch_close() -> None:
        # Whatever the server answers (a 408, a 400) is read and dropped; EOF means it closed.
        while await reader.read(4096):
            pass

    closed = asyncio.ensure_future(watch_close())
    try:
        writer.write(head)
        await writer.drain()
        for byte in trickle:
            if closed.done() or time.monotonic() >= deadline:
                break
            await asyncio.wait([closed], timeout=pace)
            if closed.done():
                break
            writer.write(bytes([byte]))
            await writer.drain()
        if not closed.done():
            await asyncio.wait([closed], timeout=max(0.0, deadline - time.monotonic()))
    except (OSError, ssl.SSLError):
        pass  # a reset while writing is a close too
    finally:
        if closed.done() or writer.is_closing() or time.monotonic() < deadline:
            report.closed_after[index] = time.monotonic() - opened
        closed.cancel()
        writer.close()


async def _probe(
    host: str, port: int, context: ssl.SSLContext | None, path: str, timeout: float, report: Report
) -> None:
    started = time.monotonic()
    status, latency = 0, None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), timeout)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        response = await asyncio.wait_for(reader.read(65536), timeout - (time.monotonic() - started))
        status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else 0
        latency = time.monotonic() - started
        writer.close()
    except (TimeoutError, OSError, ssl.SSLError, ValueError, IndexError):
        pass
    report.probes.append({"path": path, "at": round(started, 3), "status": status, "latency": latency})


async def run(
    url: str,
    connections: int = 200,
    seconds: float = 40.0,
    pace: float = 1.0,
    body_pace: float | None = None,
    probes: tuple[str, ...] = ("/healthz",),
    probe_interval: float = 0.5,
    probe_timeout: float = 5.0,
    settle: float = 3.0,
) -> Report:
    """Hold `connections` slow connections for at most `seconds`, probing every `probe_interval`
    once `settle` seconds have let the slow connections reach the server."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)
    context = _client_ssl(parts.scheme)
    report = Report(connections=connections, seconds=seconds)
    deadline = time.monotonic() + seconds
    slow = []
    for n in range(connections):
        in_body = n % 2 == 1
        trickle = (body_pace or pace) if in_body else pace
        slow.append(asyncio.ensure_future(_slow_connection(host, port, context, in_body, trickle, deadline, report)))
        await asyncio.sleep(0.005)  # spread the connects over about a second
    await asyncio.sleep(settle)
    while time.monotonic() < deadline and not all(task.done() for task in slow):
        for path in probes:
            await _probe(host, port, context, path, probe_timeout, report)
        await asyncio.sleep(probe_interval)
    await asyncio.gather(*slow)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the server's base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=40.0, help="longest time the slow clients keep trying")
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between two trickled header bytes")
    parser.add_argument("--body-pace", type=float, help="seconds between two trickled body bytes (default: --pace)")
    parser.add_argument("--probe", action="append", help="path a normal client calls (repeatable; default /healthz)")
    args = parser.parse_args()
    probes = tuple(args.probe or ["/healthz"])
    report = asyncio.run(run(args.url, args.connections, args.seconds, args.pace, args.body_pace, probes))
    print(json.dumps(report.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
