#!/usr/bin/env bash
# The whole stack on this machine: 1 k3s server + 2 agents as systemd containers on a private
# Docker network, site.yml with inventory/lab.yml, the app image built here and imported into
# every node, then verify.yml. `make lab` runs `lab.sh up`, `make lab-down` runs `lab.sh down`.
#
# Needs: k3s from the internet (github.com) or an air-gap directory in K3S_AIRGAP_DIR (k3s binary,
# sha256sum-<arch>.txt, k3s-airgap-images-<arch>.tar*), and a Docker engine that allows
# --privileged (k3s runs containerd, kube-proxy and flannel inside the node containers).
# Everything it creates is named wl-lab*; nothing is created until both checks pass.
# HTTPS on the NodePort: LAB_TLS_CERT_FILE and LAB_TLS_KEY_FILE (PEM files), passed to the app role.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
# The project's Ansible (make setup), also when the script is run directly.
[ -x "$REPO_ROOT/.venv/bin/ansible-playbook" ] && export PATH="$REPO_ROOT/.venv/bin:$PATH"

NETWORK=wl-lab
SUBNET=172.31.250.0/24
NODES=(wl-lab-server-1:172.31.250.11 wl-lab-agent-1:172.31.250.21 wl-lab-agent-2:172.31.250.22)
NODE_IMAGE=k3s-node:debian12
IMAGE_REPO=localhost/demo-api
# The port the first node also publishes on this machine's loopback.
LOOPBACK_PORT="${LAB_LOOPBACK_PORT:-30800}"

k3s_version() {
  sed -n 's/^k3s_version: *//p' roles/k3s/defaults/main.yml | tr -d '"'
}

# Where k3s comes from, or stop before creating or installing anything. An air-gap directory is
# checked file by file against its own sha256sum file, the way the k3s role checks it later: a wrong
# or truncated download is named here, not after the containers exist.
check_k3s_source() {
  if [ -n "${K3S_AIRGAP_DIR:-}" ]; then
    [ -d "$K3S_AIRGAP_DIR" ] || die "K3S_AIRGAP_DIR=$K3S_AIRGAP_DIR is not a directory. Nothing was created."
    K3S_AIRGAP_DIR="$(cd "$K3S_AIRGAP_DIR" && pwd)"
    local arch binary sums file expected actual
    case "$(uname -m)" in
      x86_64) arch=amd64 binary=k3s ;;
      aarch64) arch=arm64 binary=k3s-arm64 ;;
      *) die "the lab runs on x86_64 or aarch64, not $(uname -m). Nothing was created." ;;
    esac
    sums="$K3S_AIRGAP_DIR/sha256sum-$arch.txt"
    for file in "$binary" "sha256sum-$arch.txt"; do
      [ -f "$K3S_AIRGAP_DIR/$file" ] || die "K3S_AIRGAP_DIR=$K3S_AIRGAP_DIR has no $file: copy it from the k3s release $(k3s_version) (docs: the README's lab section). Nothing was created."
    done
    for file in "$binary" $(cd "$K3S_AIRGAP_DIR" && compgen -G "k3s-airgap-images-$arch.tar*" || true); do
      expected="$(awk -v f="$file" '$2 == f || $2 == "*" f {print $1}' "$sums")"
      [ -n "$expected" ] || die "sha256sum-$arch.txt in $K3S_AIRGAP_DIR lists no checksum for $file: the two come from different releases. Nothing was created."
      actual="$(sha256sum "$K3S_AIRGAP_DIR/$file" | cut -d' ' -f1)"
      [ "$actual" = "$expected" ] || die "checksum mismatch for $K3S_AIRGAP_DIR/$file: the file is $actual, sha256sum-$arch.txt says $expected. Download $file of release $(k3s_version) again. Nothing was created."
    done
    note "k3s from the air-gap directory $K3S_AIRGAP_DIR (checksums verified)"
    return 0
  fi
  local version url
  version="$(k3s_version)"
  url="https://github.com/k3s-io/k3s/releases/download/${version//+/%2B}/sha256sum-amd64.txt"
  if curl -fsSL --max-time 10 -o /dev/null "$url" 2>/dev/null; then
    note "k3s $version from $url"
    return 0
  fi
  die "make lab needs k3s $version, and neither source is available: $url cannot be downloaded (no internet
access to github.com) and K3S_AIRGAP_DIR is not set. Download the release files (k3s,
sha256sum-amd64.txt, k3s-airgap-images-amd64.tar.zst) on a connected machine, copy them here and run
K3S_AIRGAP_DIR=/path/to/them make lab. Nothing was created."
}

# k3s inside a container needs a privileged container; some engines (rootless, authz plugins,
# hardened hosts) refuse it. A throwaway container tells, before the lab creates anything.
check_privileged() {
  local out
  if ! out="$(docker run --rm --privileged --entrypoint /bin/true "$NODE_IMAGE" 2>&1)"; then
    die "this Docker engine refuses privileged containers (docker run --privileged: ${out//$'\n'/ }).
k3s inside a container needs them (containerd, kube-proxy's iptables, flannel, /dev/kmsg), so the lab
cannot run here. Nothing was created. Use a machine or CI runner that allows --privileged (GitHub
Actions runners do), or the AWS deployment (make deploy)."
  fi
}

# The app image: the official Python base when it can be pulled, else Debian's python3 built
# offline by python-base-image.sh.
build_image_archive() {
  local tag base_args=()
  tag="$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev)"
  APP_ARCHIVE="$CACHE_DIR/images/demo-api-$tag.tar"
  if ! docker image inspect python:3.13-slim-trixie >/dev/null 2>&1 && ! docker pull -q python:3.13-slim-trixie >/dev/null 2>&1; then
    note "python:3.13-slim-trixie cannot be pulled: building on Debian's python3 (scripts/python-base-image.sh)"
    base_args=(-e "{\"app_image_build_args\": {\"PYTHON_IMAGE\": \"$("$REPO_ROOT/scripts/python-base-image.sh")\"}}")
  fi
  say "Building the app image $IMAGE_REPO:$tag and saving it to $APP_ARCHIVE"
  ansible-playbook playbooks/image.yml -e "app_image_archive=$APP_ARCHIVE" "${base_args[@]}"
}

start_nodes() {
  say "Creating the network $NETWORK ($SUBNET) and the nodes"
  docker network inspect "$NETWORK" >/dev/null 2>&1 \
    || docker network create --subnet "$SUBNET" "$NETWORK" >/dev/null \
    || die "cannot create $NETWORK with $SUBNET (another network uses the range?); remove it or change inventory/lab.yml and this script"
  local entry name ip extra
  for entry in "${NODES[@]}"; do
    name="${entry%%:*}" ip="${entry#*:}" extra=()
    # The first server publishes the NodePort on loopback and writes the nightly database backups
    # into ./backups/lab on this machine (postgres_backup_destination in inventory/lab.yml).
    if [ "$name" = wl-lab-server-1 ]; then
      mkdir -p -m 0700 "$REPO_ROOT/backups/lab"
      extra=(-p "127.0.0.1:$LOOPBACK_PORT:30800" -v "$REPO_ROOT/backups/lab:/var/backups/k3s-platform")
    fi
    if docker container inspect "$name" >/dev/null 2>&1; then
      docker start "$name" >/dev/null
      continue
    fi
    # Privileged: k3s needs it. /var/lib/rancher on a volume: containerd's overlay snapshots
    # cannot live on the container's own overlay root.
    docker run -d --name "$name" --hostname "$name" --network "$NETWORK" --ip "$ip" "${extra[@]}" \
      --privileged --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
      --tmpfs /run --tmpfs /run/lock -v /lib/modules:/lib/modules:ro \
      -v "$name-rancher:/var/lib/rancher" -v "$name-kubelet:/var/lib/kubelet" \
      --label wl-lab=1 "$NODE_IMAGE" >/dev/null
  done
  for entry in "${NODES[@]}"; do
    name="${entry%%:*}"
    timeout 120 docker exec "$name" systemctl is-system-running --wait >/dev/null 2>&1 || true
  done
}

up() {
  command -v docker >/dev/null || die "docker is not installed"
  check_k3s_source
  "$REPO_ROOT/scripts/ensure-docker.sh"
  "$REPO_ROOT/scripts/node-images.sh" debian12
  check_privileged
  build_image_archive
  start_nodes

  local extra=(-e "app_image_archive=$APP_ARCHIVE")
  [ -n "${K3S_AIRGAP_DIR:-}" ] && extra+=(-e "k3s_airgap_dir=$K3S_AIRGAP_DIR")
  local scheme=http
  if [ -n "${LAB_TLS_CERT_FILE:-}${LAB_TLS_KEY_FILE:-}" ]; then
    # Absolute: this script runs from the repository root. The app role refuses one file without the other.
    extra+=(-e "app_tls_cert_file=${LAB_TLS_CERT_FILE:+$(realpath -m -- "$LAB_TLS_CERT_FILE")}")
    extra+=(-e "app_tls_key_file=${LAB_TLS_KEY_FILE:+$(realpath -m -- "$LAB_TLS_KEY_FILE")}")
    scheme=https
  fi
  # site.yml ends with playbooks/verify.yml: every node must answer on the NodePort.
  say "site.yml on the lab"
  ansible-playbook -i inventory/lab.yml site.yml "${extra[@]}"

  say "The lab is up"
  local entry
  for entry in "${NODES[@]}"; do note "$scheme://${entry#*:}:30800/api/users/"; done
  note "$scheme://127.0.0.1:$LOOPBACK_PORT/api/users/   (published by wl-lab-server-1)"
  note "kubectl --kubeconfig ./kubeconfig get pods -A"
  note "backups: ./backups/lab (ansible-playbook -i inventory/lab.yml playbooks/backup.yml)"
  note "make lab-down removes it all"
}

down() {
  say "Removing the lab"
  local ids
  ids="$(docker ps -aq --filter label=wl-lab=1)"
  [ -n "$ids" ] && docker rm -f -v $ids >/dev/null
  local entry name
  for entry in "${NODES[@]}"; do
    name="${entry%%:*}"
    docker volume rm "$name-rancher" "$name-kubelet" >/dev/null 2>&1 || true
  done
  docker network rm "$NETWORK" >/dev/null 2>&1 || true
  # The kubeconfig is the lab's only when it points at the lab's server.
  if [ -f kubeconfig ] && grep -q 'https://172.31.250.11:' kubeconfig; then rm -f kubeconfig; fi
  note "Removed containers, volumes and the network $NETWORK (credentials/ is kept)"
}

case "${1:-up}" in
  # `make lab` runs this before it installs the tools (minutes): a missing k3s is said at once.
  preflight) command -v docker >/dev/null || die "docker is not installed"; check_k3s_source ;;
  up) up ;;
  down) down ;;
  *) die "usage: $0 [preflight|up|down]" ;;
esac
