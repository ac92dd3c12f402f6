#!/usr/bin/env bash
# Provide a Debian Python base image for the app's Dockerfile on machines that cannot pull the
# official `python:*-slim` image (offline: only the Debian mirror answers). It is Debian's own
# python3 (+ venv, which Debian ships separately) on the local debian:<release> image.
# Prints the image tag on stdout, so callers can do: --build-arg PYTHON_IMAGE="$(scripts/python-base-image.sh)".
#
# Usage: python-base-image.sh [release]   (default: trixie -> local/python:3-trixie)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

release="${1:-trixie}"
tag="local/python:3-$release"

if docker image inspect "$tag" >/dev/null 2>&1; then
  note "$tag: present locally"
  echo "$tag"
  exit 0
fi

"$REPO_ROOT/scripts/base-images.sh" "$release" >&2
mkdir -p "$CACHE_DIR"
log="$CACHE_DIR/python-base-$release.log"
say "Building $tag from debian:$release (log: $log)"
# The Dockerfile comes from stdin: it only adds Debian packages, and an empty context keeps it fast.
# python3-venv brings ensurepip, which Debian strips from python3 itself.
docker build --pull=false -t "$tag" - >"$log" 2>&1 <<DOCKERFILE || die "building $tag failed; see $log"
FROM debian:$release
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
ENV LANG=C.UTF-8
CMD ["python3"]
DOCKERFILE
note "$tag built ($(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=iec))"
echo "$tag"
