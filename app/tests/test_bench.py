"""make bench's arithmetic: every endpoint slice sits between two ceiling slices, and the table
shows medians. (The benchmark itself is run by hand: `make bench`; see the README.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import run  # noqa: E402


def fake_wrk(rps_by_endpoint: dict[tuple[str, str], list[float]]):
    calls: list[tuple[str, str]] = []

    def run_wrk(base, mode, path, seconds, connections):
        calls.append((mode, path))
        rps = rps_by_endpoint[mode, path].pop(0)
        return {"rps": rps, "p50_us": 1000 * rps, "p99_us": 2000 * rps, "status_errors": 1, "socket_errors": 0}

    return run_wrk, calls


def test_each_endpoint_slice_is_compared_with_the_ceiling_slices_around_it(monkeypatch):
    endpoints = [(mode, path) for _, mode, path in run.ENDPOINTS]
    ceiling = [1000.0, 3000.0, 1000.0, 1000.0, 1000.0]  # the machine sped up around the first endpoint
    others = {endpoint: [1000.0] for endpoint in endpoints[1:]}
    run_wrk, calls = fake_wrk({endpoints[0]: ceiling, **others})
    monkeypatch.setattr(run, "run_wrk", run_wrk)

    slices = run.measure("http://x", rounds=1, seconds=1, connections=1)

    c = endpoints[0]
    assert calls == [c, endpoints[1], c, endpoints[2], c, endpoints[3], c, endpoints[4], c]
    label_after_first = run.ENDPOINTS[1][0]
    assert slices[label_after_first]["ratios"] == [pytest.approx(1000 / 2000)]  # mean of 1000 and 3000
    assert slices[run.ENDPOINTS[2][0]]["ratios"] == [pytest.approx(1000 / 2000)]
    assert slices[run.ENDPOINTS[3][0]]["ratios"] == [pytest.approx(1.0)]


def test_reads_run_before_writes_and_ceiling_slices_are_shared(monkeypatch):
    endpoints = [(mode, path) for _, mode, path in run.ENDPOINTS]
    ceiling, others = endpoints[0], endpoints[1:]
    rounds = 2
    run_wrk, calls = fake_wrk({e: [1000.0] * (1 + rounds * len(others)) for e in endpoints})
    monkeypatch.setattr(run, "run_wrk", run_wrk)

    run.measure("http://x", rounds=rounds, seconds=1, connections=1)

    measured = [call for call in calls if call != ceiling]
    creates = [i for i, (mode, _) in enumerate(measured) if mode == "create"]
    assert creates == list(range(len(measured) - rounds, len(measured)))  # every create slice comes last
    assert len(measured) == rounds * len(others)
    assert calls[::2] == [ceiling] * (len(measured) + 1)  # one ceiling slice between any two others


def test_rows_are_medians_over_slices_with_errors_summed():
    label = run.ENDPOINTS[1][0]
    slices = {name: {"results": [], "ratios": []} for name, _, _ in run.ENDPOINTS}
    for rps in (100.0, 300.0, 200.0):
        result = {"rps": rps, "p50_us": rps, "p99_us": 2 * rps, "status_errors": 1, "socket_errors": 2}
        for name in slices:
            slices[name]["results"].append(result)
    slices[label]["ratios"] = [0.2, 0.9, 0.5]

    rows = dict(run.summarize(slices))

    assert rows[label]["rps"] == 200.0
    assert rows[label]["p99_us"] == 400.0
    assert rows[label]["errors"] == 9
    assert rows[label]["ratio"] == 0.5
    assert rows[label]["ratio_range"] == (0.2, 0.9)
    assert rows[run.ENDPOINTS[0][0]]["ratio"] == 1.0  # the ceiling is its own reference


def test_compare_puts_each_slice_between_two_reference_slices_of_the_same_endpoint(monkeypatch):
    calls: list[tuple[str, str, str]] = []

    def run_wrk(base, mode, path, seconds, connections):
        calls.append((base, mode, path))
        # The reference speeds up from 100 to 300 req/s over its slices; this checkout is steady.
        rps = 200.0 if base == "http://this" else 100.0 * sum(1 for c in calls if c[0] == base)
        return {"rps": rps, "p50_us": 1, "p99_us": 2, "status_errors": 0, "socket_errors": 0}

    monkeypatch.setattr(run, "run_wrk", run_wrk)
    slices = run.compare("http://this", "http://ref", rounds=2, seconds=1, connections=1)

    per_endpoint = 1 + 2 * 2  # reference, then (this, reference) per round
    assert len(calls) == len(run.ENDPOINTS) * per_endpoint
    for start in range(0, len(calls), per_endpoint):
        group = calls[start : start + per_endpoint]
        assert [base for base, _, _ in group] == [
            "http://ref",
            "http://this",
            "http://ref",
            "http://this",
            "http://ref",
        ]
        assert len({(mode, path) for _, mode, path in group}) == 1  # one endpoint, both servers
    assert calls[-1][1] == "create"  # writes after every read
    first = run.ENDPOINTS[0][0]
    assert slices[first]["ratios"] == [pytest.approx(200 / 150), pytest.approx(200 / 250)]
    rows = dict(run.summarize(slices))
    assert rows[first]["reference_rps"] == 200.0  # median of 100, 200, 300
    assert rows[first]["ratio"] == pytest.approx((200 / 150 + 200 / 250) / 2)
