"""`make bench`: the API under gunicorn with production settings, against PostgreSQL, under wrk.

Starts a throwaway PostgreSQL on 127.0.0.1 (durable: fsync on, as in production), migrates,
seeds 10,000 users, starts gunicorn with gunicorn.conf.py, then drives each endpoint from a
separate process (wrk) and prints one table. /healthz touches no database: it is the ceiling that
shows what the server, the framework and the machine allow at all.

A shared machine's speed drifts (a pure-CPU loop here took anywhere from 0.33 s to 0.65 s from one
run to the next), so numbers taken minutes apart do not compare. Each endpoint therefore runs in
short slices, every slice between two slices of the ceiling; its "% of ceiling" is the median of
those side-by-side ratios, and req/s and latencies are medians over its slices.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(APP_DIR / "tests"))
from throwaway_postgres import ThrowawayPostgres, free_port  # noqa: E402

SEED_USERS = 10_000
# (label, wrk mode, path): the ceiling first, so every other row can be compared with it.
ENDPOINTS = [
    ("healthz (ceiling)", "get", "/healthz"),
    # No database either, but through URL routing, the middleware and DRF: separates the
    # framework's share of an API request from the database's.
    ("api root (no db)", "get", "/api/"),
    ("list limit=50", "get", "/api/users/?limit=50"),
    ("retrieve", "retrieve", "/api/users/"),
    ("create", "create", "/api/users/"),
]


def parse_args() -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--rounds", type=int, default=int(env("BENCH_ROUNDS", "5")), help="slices per endpoint (default: 5)"
    )
    parser.add_argument(
        "--seconds", type=int, default=int(env("BENCH_SECONDS", "2")), help="seconds per slice (default: 2)"
    )
    # Many connections, because gunicorn's gthread worker keeps each kept-alive connection where it
    # was accepted: with few, one worker can hold most of them while its sibling idles, and the
    # table would show how wrk's connections happened to split, not what the server can do.
    parser.add_argument(
        "--connections", type=int, default=int(env("BENCH_CONNECTIONS", "64")), help="wrk connections (default: 64)"
    )
    parser.add_argument("--workers", default=env("WEB_CONCURRENCY"), help="gunicorn workers (default: config's)")
    parser.add_argument("--worker-class", default=env("GUNICORN_WORKER_CLASS"), help="sync or gthread")
    parser.add_argument("--threads", default=env("GUNICORN_THREADS"), help="threads per gthread worker")
    parser.add_argument("--conn-max-age", default=env("DJANGO_CONN_MAX_AGE"), help="0 = new DB connection per request")
    parser.add_argument("--conn-health-checks", default=env("DJANGO_CONN_HEALTH_CHECKS"), help="true or false")
    parser.add_argument("--max-requests", default=env("GUNICORN_MAX_REQUESTS"), help="worker recycling (0 = off)")
    return parser.parse_args()


def gunicorn_env(args: argparse.Namespace, database_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "POSTGRES_", "DATABASE_", "GUNICORN_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="demo.settings",
        DJANGO_SECRET_KEY="bench-only-" + os.urandom(16).hex(),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url,
        GUNICORN_BIND=f"127.0.0.1:{port}",
    )
    for name, value in [
        ("WEB_CONCURRENCY", args.workers),
        ("GUNICORN_WORKER_CLASS", args.worker_class),
        ("GUNICORN_THREADS", args.threads),
        ("DJANGO_CONN_MAX_AGE", args.conn_max_age),
        ("DJANGO_CONN_HEALTH_CHECKS", args.conn_health_checks),
        ("GUNICORN_MAX_REQUESTS", args.max_requests),
    ]:
        if value is not None:
            env[name] = str(value)
    return env


def seed(database_url: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=APP_DIR, env=env, check=True)
    import psycopg2

    conn = psycopg2.connect(database_url)
    # Autocommit: VACUUM cannot run in a transaction. Vacuumed now rather than by autovacuum, which
    # the 10,000 new rows would otherwise set off in the middle of a slice.
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO api_user (dni, name) "
                "SELECT 'seed-' || g, 'Seeded user ' || g FROM generate_series(1, %s) g",
                [SEED_USERS],
            )
            cur.execute("VACUUM ANALYZE api_user")
    finally:
        conn.close()


def wait_until_up(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited during start; see its log above")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310  (loopback)
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 30 s")


_runs = itertools.count(1)


def run_wrk(base: str, mode: str, path: str, seconds: int, connections: int) -> dict:
    script = Path(__file__).with_name("wrk.lua")
    command = ["wrk", "--threads", "2", "--connections", str(connections), "--duration", f"{seconds}s"]
    command += ["--timeout", "5s", "--script", str(script), base + path, "--", mode, str(SEED_USERS), f"b{next(_runs)}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH "))
    result = json.loads(line.removeprefix("BENCH "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def effective_settings(env: dict[str, str]) -> str:
    """What gunicorn.conf.py and the settings make of this environment, defaults included."""
    code = (
        "import json, runpy; from demo.env import database_config; c = runpy.run_path('gunicorn.conf.py'); "
        "d = database_config(); print(json.dumps({**{k: c[k] for k in "
        "('workers', 'worker_class', 'threads', 'max_requests')}, **{k: d[k] for k in "
        "('CONN_MAX_AGE', 'CONN_HEALTH_CHECKS')}}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=APP_DIR, env=env, capture_output=True, text=True, check=True)
    s = json.loads(out.stdout)
    threads_note = f" x {s['threads']} threads" if s["worker_class"] == "gthread" else ""
    recycling = f"recycled every ~{s['max_requests']} requests" if s["max_requests"] else "no recycling"
    return (
        f"gunicorn {s['workers']} {s['worker_class']} workers{threads_note}, {recycling}; "
        f"CONN_MAX_AGE={s['CONN_MAX_AGE']}, CONN_HEALTH_CHECKS={s['CONN_HEALTH_CHECKS']}"
    )


def measure(base: str, rounds: int, seconds: int, connections: int) -> dict[str, dict]:
    """Every endpoint in `rounds` slices, each slice between two ceiling slices (see the docstring).
    Returns, per label, its slices' wrk results and, except for the ceiling, the side-by-side ratios."""
    ceiling_label, ceiling_mode, ceiling_path = ENDPOINTS[0]
    slices: dict[str, dict] = {label: {"results": [], "ratios": []} for label, _, _ in ENDPOINTS}

    def run_slice(label: str, mode: str, path: str, round_no: int) -> dict:
        print(f"==> round {round_no}/{rounds}: {label}, {seconds} s", file=sys.stderr)
        result = run_wrk(base, mode, path, seconds, connections)
        slices[label]["results"].append(result)
        return result

    # Reads first, writes last: the rows the create slices add set off PostgreSQL's autoanalyze and
    # autovacuum, background work that would take CPU from any read slice after them.
    reads = [endpoint for endpoint in ENDPOINTS[1:] if endpoint[1] != "create"]
    writes = [endpoint for endpoint in ENDPOINTS[1:] if endpoint[1] == "create"]
    schedule = [(n, e) for n in range(1, rounds + 1) for e in reads]
    schedule += [(n, e) for n in range(1, rounds + 1) for e in writes]

    before = run_slice(ceiling_label, ceiling_mode, ceiling_path, 1)
    for round_no, (label, mode, path) in schedule:
        result = run_slice(label, mode, path, round_no)
        after = run_slice(ceiling_label, ceiling_mode, ceiling_path, round_no)
        slices[label]["ratios"].append(result["rps"] / ((before["rps"] + after["rps"]) / 2))
        before = after
    return slices


def summarize(slices: dict[str, dict]) -> list[tuple[str, dict]]:
    """One row per endpoint: medians over its slices, errors summed over all of them."""
    rows = []
    for label, _, _ in ENDPOINTS:
        results, ratios = slices[label]["results"], slices[label]["ratios"] or [1.0]
        row = {
            "rps": statistics.median(r["rps"] for r in results),
            "p50_us": statistics.median(r["p50_us"] for r in results),
            "p99_us": statistics.median(r["p99_us"] for r in results),
            "errors": sum(r["status_errors"] + r["socket_errors"] for r in results),
            "ratio": statistics.median(ratios),
            "ratio_range": (min(ratios), max(ratios)),
        }
        rows.append((label, row))
    return rows


def print_table(rows: list[tuple[str, dict]], settings: str) -> None:
    print(f"\n{settings}\n")
    columns = [
        "endpoint".ljust(18),
        "req/s".rjust(7),
        "p50 ms".rjust(7),
        "p99 ms".rjust(7),
        "errors",
        "% of ceiling".rjust(20),
    ]
    print("| " + " | ".join(columns) + " |")
    print(f"|{'-' * 20}|{'-' * 8}:|{'-' * 8}:|{'-' * 8}:|{'-' * 7}:|{'-' * 21}:|")
    for label, r in rows:
        low, high = r["ratio_range"]
        spread = f"(slices {100 * low:.0f}-{100 * high:.0f})" if low != high else ""
        print(
            f"| {label:<18} | {r['rps']:>7.0f} | {r['p50_us'] / 1000:>7.1f} | {r['p99_us'] / 1000:>7.1f} "
            f"| {r['errors']:>6} | {spread:>15} {100 * r['ratio']:>3.0f}% |"
        )


def main() -> int:
    args = parse_args()
    load_before = os.getloadavg()[0]
    with ThrowawayPostgres(durable=True) as database, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        port = free_port("127.0.0.1")
        env = gunicorn_env(args, database.url, port)
        print(f"==> Seeding {SEED_USERS} users into PostgreSQL on 127.0.0.1:{database.port}", file=sys.stderr)
        seed(database.url, env)
        log_path = Path(tmp) / "gunicorn.log"
        with log_path.open("w") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "demo.wsgi:application"],
                cwd=APP_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                wait_until_up(base + "/healthz", server)
                run_wrk(base, "get", "/healthz", 2, args.connections)  # warm-up: workers, connections, caches
                rows = summarize(measure(base, args.rounds, args.seconds, args.connections))
            finally:
                server.terminate()
                server.wait(timeout=60)
        settings = (
            f"{effective_settings(env)}; wrk: {args.connections} connections, {args.rounds} slices of "
            f"{args.seconds} s per endpoint, each between two slices of the ceiling (medians shown, errors summed); "
            f"{os.cpu_count()} CPUs, load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after"
        )
        print_table(rows, settings)
        failed = sum(r["errors"] for _, r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
