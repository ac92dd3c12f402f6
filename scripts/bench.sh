#!/usr/bin/env bash
# `make bench`: benchmark the API under gunicorn against PostgreSQL (app/bench/run.py says how).
# Installs what it needs: wrk (Debian) as the load generator, nginx (Debian) as the image's front
# server, the app's Python dependencies (.venv),
# PostgreSQL's server binaries when none are found.
# Usage: bench.sh [--rounds N] [--seconds S] [--connections N] [--workers N] [--worker-class sync|gthread]
#                 [--threads N] [--conn-max-age S] [--max-requests N] [--against REF]
#                 (also BENCH_ROUNDS, WEB_CONCURRENCY, BENCH_AGAINST, ...)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

command -v wrk >/dev/null || apt_install wrk
ensure_nginx
ensure_postgres_server
PYTHON="$REPO_ROOT/.venv/bin/python"
[ -x "$PYTHON" ] || die "no $REPO_ROOT/.venv: run 'make setup' first"
"$PYTHON" -c 'import django, gunicorn, psycopg2' 2>/dev/null \
  || "$PYTHON" -m pip install --quiet --requirement app/requirements.in

exec "$PYTHON" app/bench/run.py "$@"
