#!/usr/bin/env bash
# Build the systemd node images used by Molecule and the lab: k3s-node:debian12 and
# k3s-node:debian13, FROM the local debian:bookworm / debian:trixie (see base-images.sh).
# Docker's layer cache makes a second run take seconds.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

declare -A RELEASE_OF=([debian12]=bookworm [debian13]=trixie)
tags=("$@")
[ "${#tags[@]}" -gt 0 ] || tags=(debian12 debian13)

releases=()
for tag in "${tags[@]}"; do
  [ -n "${RELEASE_OF[$tag]:-}" ] || die "unknown node image tag '$tag' (known: ${!RELEASE_OF[*]})"
  releases+=("${RELEASE_OF[$tag]}")
done
"$(dirname "$0")/base-images.sh" "${releases[@]}"

mkdir -p "$CACHE_DIR"
for tag in "${tags[@]}"; do
  image="k3s-node:$tag"
  log="$CACHE_DIR/node-image-$tag.log"
  start=$SECONDS
  # The classic builder: Debian's docker.io ships no BuildKit, and the Dockerfile needs none.
  DOCKER_BUILDKIT=0 docker build --build-arg "DEBIAN_RELEASE=${RELEASE_OF[$tag]}" -t "$image" \
    "$REPO_ROOT/molecule/node-image" >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "building $image failed; see $log"; }
  note "$image ready ($((SECONDS - start)) s)"
done
