# Shared helpers for the harness scripts. Sourced, never executed.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Everything the harness builds or downloads lives here, git-ignored, so a second run is fast
# and `make clean` removes it in one go.
CACHE_DIR="${HARNESS_CACHE_DIR:-$REPO_ROOT/.cache}"
export REPO_ROOT CACHE_DIR

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() { printf '\033[31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root (CI), through sudo otherwise (a laptop).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt-get install only what is missing; `apt-get update` once per run, and only when needed.
apt_install() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them; install them by hand"
  say "Installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# PostgreSQL server binaries (initdb, pg_ctl) for the throwaway servers the app tests and the
# benchmark start, looked for where app/tests/throwaway_postgres.py looks (POSTGRES_BIN_DIR,
# pg_config --bindir, Debian's /usr/lib/postgresql/*/bin); Debian's postgresql when none are found.
# nginx, the app image's front server (app/serve.py), for make bench and the app tier's tests of it.
ensure_nginx() {
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx
}

ensure_postgres_server() {
  [ -x "${POSTGRES_BIN_DIR:-/nonexistent}/initdb" ] && return 0
  [ -x "$(pg_config --bindir 2>/dev/null)/initdb" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_install postgresql
}
