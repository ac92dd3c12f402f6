#!/usr/bin/env bash
# Make sure a Docker engine answers. Uses the running one when there is one; otherwise installs
# Debian's docker.io (when dockerd is missing) and starts dockerd in the background, because test
# machines here start with a Docker client but no daemon and no systemd to start one.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if docker info >/dev/null 2>&1; then
  note "Docker engine: using the running one ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi

command -v dockerd >/dev/null || apt_install docker.io
# docker.io pulls in the client too; keep whichever client was already first on PATH.
command -v docker >/dev/null || die "docker.io installed but no docker client on PATH"

if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  say "Starting the Docker engine with systemd"
  as_root systemctl start docker
else
  mkdir -p "$CACHE_DIR"
  log="$CACHE_DIR/dockerd.log"
  say "Starting dockerd in the background (no systemd here); log: $log"
  # setsid: the daemon must outlive this script and the make process that called it.
  as_root setsid dockerd >"$log" 2>&1 </dev/null &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    note "Docker engine answers: $(docker version -f '{{.Server.Version}}')"
    exit 0
  fi
  sleep 1
done
die "the Docker engine did not answer within 60 s; see ${log:-journalctl -u docker}"
