#!/usr/bin/env bash
# Provide the Debian base images the node images and the app image start FROM.
# Order of preference: already present locally (seconds) -> `docker pull` (any machine with a
# registry) -> `debootstrap --variant=minbase` + `docker import` under the same name (offline
# machines, where only the Debian package mirror answers).
#
# Usage: base-images.sh [release ...]   (default: bookworm trixie)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
releases=("$@")
[ "${#releases[@]}" -gt 0 ] || releases=(bookworm trixie)

bootstrap_image() {
  local release="$1" image="$2" rootfs
  apt_install debootstrap debian-archive-keyring
  rootfs="$(mktemp -d "${TMPDIR:-/tmp}/rootfs-$release.XXXXXX")"
  # shellcheck disable=SC2064  # expand now: the path is fixed for this call
  trap "as_root rm -rf '$rootfs'" RETURN
  say "Bootstrapping $image from $DEBIAN_MIRROR with debootstrap (no registry reachable)"
  as_root debootstrap --variant=minbase --include=ca-certificates "$release" "$rootfs" "$DEBIAN_MIRROR" \
    >"$CACHE_DIR/debootstrap-$release.log" 2>&1 \
    || die "debootstrap $release failed; see $CACHE_DIR/debootstrap-$release.log"
  # What the official image also does: no apt lists or caches baked in, a sources file that matches.
  as_root rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
  as_root tar -C "$rootfs" -c . \
    | docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' \
      -m "debootstrap --variant=minbase $release" - "$image" >/dev/null
  note "$image imported ($(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec))"
}

mkdir -p "$CACHE_DIR"
for release in "${releases[@]}"; do
  image="debian:$release"
  if docker image inspect "$image" >/dev/null 2>&1; then
    note "$image: present locally"
  elif docker pull -q "$image" >/dev/null 2>&1; then
    note "$image: pulled from the registry"
  else
    bootstrap_image "$release" "$image"
  fi
done
