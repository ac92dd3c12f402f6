"""`make bench`: the API as the image serves it (nginx in front of gunicorn, app/serve.py), with
production settings, against PostgreSQL, under wrk.

Starts a throwaway PostgreSQL on 127.0.0.1 (durable: fsync on, as in production), migrates,
seeds 10,000 users, starts the server, then drives each endpoint from a separate process (wrk)
and prints one table. /healthz touches no database: it is the ceiling that shows what the server,
the framework and the machine allow at all.

`--against REF` runs a second server from another commit's app/ (e.g. `main`, or the commit
before a change) against the same database, and compares the two endpoint by endpoint instead:
each slice of this checkout sits between two slices of the same endpoint on REF.

A shared machine's speed drifts (a pure-CPU loop here took anywhere from 0.33 s to 0.65 s from one
run to the next), so numbers taken minutes apart do not compare. Each endpoint therefore runs in
short slices, every slice between two slices of the ceiling; its "% of ceiling" is the median of
those side-by-side ratios, and req/s and latencies are medians over its slices.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import IO

APP_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(APP_DIR / "tests"))
from seed import seed_users  # noqa: E402
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
    parser.add_argument(
        "--against", metavar="REF", default=env("BENCH_AGAINST"), help="compare with the app of this git commit"
    )
    return parser.parse_args()


def gunicorn_env(args: argparse.Namespace, database_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "POSTGRES_", "DATABASE_", "GUNICORN_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="demo.settings",
        DJANGO_SECRET_KEY="bench-only-" + os.urandom(16).hex(),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url,
        # The public address: nginx's under serve.py, gunicorn's own for an app without it.
        APP_LISTEN=f"127.0.0.1:{port}",
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
    seed_users(database_url, SEED_USERS)


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


def start_server(app_dir: Path, env: dict[str, str], log: IO[str]) -> subprocess.Popen:
    """The app in `app_dir` as its image serves it: serve.py where it exists, else gunicorn alone
    (the commits before the front server)."""
    if (app_dir / "serve.py").exists():
        command = [sys.executable, "serve.py"]
    else:
        command = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "demo.wsgi:application"]
    # A new session: stopping the server stops nginx and gunicorn's workers with it.
    return subprocess.Popen(command, cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_server(server: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def export_app(ref: str, into: Path) -> Path:
    """app/ as it is at `ref`, in a folder of its own (git archive: the work tree is not touched)."""
    archive = subprocess.run(["git", "archive", ref, "app"], cwd=APP_DIR.parent, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "app"


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


def compare(base: str, reference: str, rounds: int, seconds: int, connections: int) -> dict[str, dict]:
    """Every endpoint in `rounds` slices on `base`, each between two slices of the same endpoint on
    `reference` (shared with the next). Returns, per label, both servers' results and the ratios."""
    slices: dict[str, dict] = {label: {"results": [], "reference": [], "ratios": []} for label, _, _ in ENDPOINTS}
    # Reads first, writes last, as in measure().
    order = [e for e in ENDPOINTS if e[1] != "create"] + [e for e in ENDPOINTS if e[1] == "create"]
    for label, mode, path in order:
        print(f"==> {label}: {rounds} slices of {seconds} s, each between two on the reference", file=sys.stderr)
        before = run_wrk(reference, mode, path, seconds, connections)
        slices[label]["reference"].append(before)
        for _ in range(rounds):
            result = run_wrk(base, mode, path, seconds, connections)
            after = run_wrk(reference, mode, path, seconds, connections)
            slices[label]["results"].append(result)
            slices[label]["reference"].append(after)
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
        if slices[label].get("reference"):
            reference = slices[label]["reference"]
            row["reference_rps"] = statistics.median(r["rps"] for r in reference)
            row["reference_p99_us"] = statistics.median(r["p99_us"] for r in reference)
            row["errors"] += sum(r["status_errors"] + r["socket_errors"] for r in reference)
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


def print_comparison(rows: list[tuple[str, dict]], settings: str, ref: str) -> None:
    print(f"\n{settings}\n")
    header = ["endpoint".ljust(18), f"{ref} req/s", "this req/s", f"{ref} p99 ms", "this p99 ms", "errors"]
    print("| " + " | ".join(header) + " | this / " + ref + " |")
    rule = [f"{'-' * (len(h) + 1)}:" for h in header[1:]]
    print(f"|{'-' * 20}|" + "|".join(rule) + "|---:|")
    for label, r in rows:
        low, high = r["ratio_range"]
        print(
            f"| {label:<18} | {r['reference_rps']:>{len(header[1])}.0f} | {r['rps']:>10.0f} "
            f"| {r['reference_p99_us'] / 1000:>{len(header[3])}.1f} | {r['p99_us'] / 1000:>11.1f} | {r['errors']:>6} "
            f"| {100 * r['ratio']:.0f}% (slices {100 * low:.0f}-{100 * high:.0f}) |"
        )


def main() -> int:
    args = parse_args()
    load_before = os.getloadavg()[0]
    with ThrowawayPostgres(durable=True) as database, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        port = free_port("127.0.0.1")
        env = gunicorn_env(args, database.url, port)
        print(f"==> Seeding {SEED_USERS} users into PostgreSQL on 127.0.0.1:{database.port}", file=sys.stderr)
        seed(database.url, env)
        servers = [("this checkout", APP_DIR, env)]
        if args.against:
            reference_port = free_port("127.0.0.1")
            reference_env = gunicorn_env(args, database.url, reference_port)
            servers.append((args.against, export_app(args.against, Path(tmp)), reference_env))
        running = []
        try:
            for name, app_dir, server_env in servers:
                log = (Path(tmp) / f"server-{len(running)}.log").open("w")
                running.append(start_server(app_dir, server_env, log))
                base = f"http://127.0.0.1:{server_env['APP_LISTEN'].rsplit(':', 1)[1]}"
                wait_until_up(base + "/healthz", running[-1])
                print(f"==> {name}: {base}", file=sys.stderr)
                # Warm-up: workers, connections, caches, and each view's first-call imports (the API
                # root's first answer takes about 0.4 s per worker).
                for _, mode, path in ENDPOINTS:
                    if mode != "create":
                        run_wrk(base, mode, path, 1, args.connections)
            base = f"http://127.0.0.1:{port}"
            if args.against:
                reference = f"http://127.0.0.1:{reference_port}"
                slices = compare(base, reference, args.rounds, args.seconds, args.connections)
            else:
                slices = measure(base, args.rounds, args.seconds, args.connections)
            rows = summarize(slices)
        finally:
            for server in running:
                stop_server(server)
        settings = (
            f"{effective_settings(env)}; wrk: {args.connections} connections, {args.rounds} slices of "
            f"{args.seconds} s per endpoint, each between two slices of "
            f"{'the same endpoint on ' + args.against if args.against else 'the ceiling'} "
            f"(medians shown, errors summed); "
            f"{os.cpu_count()} CPUs, load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after"
        )
        if args.against:
            print_comparison(rows, settings, args.against)
        else:
            print_table(rows, settings)
        failed = sum(r["errors"] for _, r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
