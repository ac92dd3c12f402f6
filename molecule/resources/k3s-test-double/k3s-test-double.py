#!/usr/bin/env python3
"""TEST DOUBLE - NOT k3s. A stand-in for the k3s binary in the offline Molecule scenarios.

It runs no Kubernetes at all. It only behaves enough like `k3s server` / `k3s agent` for the
roles' own work to run for real: it is started by the roles' systemd units (Type=notify), reads
/etc/rancher/k3s/config.yaml, writes the server token files and the admin kubeconfig where k3s
writes them, and lets joining servers and agents prove over the network that they reached the
first server with the right token (so a node that would start a second cluster fails here).
build-airgap.yml renders @K3S_VERSION@ and installs this file as `k3s` in an air-gap directory.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

VERSION = "@K3S_VERSION@"
CONFIG = Path("/etc/rancher/k3s/config.yaml")
SERVER_DIR = Path("/var/lib/rancher/k3s/server")
AGENT_DIR = Path("/var/lib/rancher/k3s/agent")
KUBECONFIG = Path("/etc/rancher/k3s/k3s.yaml")
MEMBERS = SERVER_DIR / "test-double-members"
CLUSTER_ID = SERVER_DIR / "test-double-cluster-id"
JOIN_TIMEOUT_S = 60


def log(message: str) -> None:
    print(f"k3s-test-double: {message}", file=sys.stderr, flush=True)


def read_config(path: Path) -> dict[str, object]:
    """Enough YAML for the flat mapping the roles render (scalars and lists of scalars)."""
    config: dict[str, object] = {}
    key = None
    if not path.exists():
        return config
    for raw in path.read_text().splitlines():
        line = raw.split(" #")[0].rstrip()
        if not line or line.startswith(("#", "---")):
            continue
        if line.lstrip().startswith("- ") and key is not None:
            config.setdefault(key, [])
            if isinstance(config[key], list):
                config[key].append(line.lstrip()[2:].strip().strip("'\""))
            continue
        key, _, value = line.partition(":")
        key = key.strip()
        value = value.strip().strip("'\"")
        config[key] = value if value else []
    return config


def password(token: str) -> str:
    """The secret part of a full token (K10<ca-hash>::server:<secret>), or the token itself."""
    return token.split("::", 1)[1].split(":", 1)[1] if "::" in token else token


def given_token(config: dict[str, object]) -> str:
    if config.get("token-file"):
        return Path(str(config["token-file"])).read_text().strip()
    return str(config.get("token", "") or os.environ.get("K3S_TOKEN", ""))


def write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    path.chmod(0o600)


def write_kubeconfig(config: dict[str, object]) -> None:
    fake = "VEVTVCBET1VCTEUgLSBOT1QgQSBDRVJUSUZJQ0FURQ=="  # base64("TEST DOUBLE - NOT A CERTIFICATE")
    KUBECONFIG.parent.mkdir(parents=True, exist_ok=True)
    KUBECONFIG.write_text(
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        f"- cluster:\n    certificate-authority-data: {fake}\n    server: https://127.0.0.1:6443\n  name: default\n"
        "contexts:\n- context:\n    cluster: default\n    user: default\n  name: default\n"
        "current-context: default\n"
        "preferences: {}\n"
        f"users:\n- name: default\n  user:\n    client-certificate-data: {fake}\n    client-key-data: {fake}\n"
    )
    KUBECONFIG.chmod(int(str(config.get("write-kubeconfig-mode") or "0600"), 8))


class JoinHandler(http.server.BaseHTTPRequestHandler):
    """GET /test-double/join?node=<name>&role=<server|agent> with `Authorization: Bearer <token>`."""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        token = (SERVER_DIR / "token").read_text().strip()
        offered = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if not self.path.startswith("/test-double/join?") or password(offered) != password(token):
            self.send_response(401)
            self.end_headers()
            return
        query = dict(part.split("=", 1) for part in self.path.split("?", 1)[1].split("&") if "=" in part)
        member = f"{query.get('role', '?')} {query.get('node', '?')}"
        members = MEMBERS.read_text().splitlines() if MEMBERS.exists() else []
        if member not in members:
            MEMBERS.write_text("\n".join([*members, member]) + "\n")
        body = json.dumps({"cluster_id": CLUSTER_ID.read_text().strip(), "token": token}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        log(fmt % args)


def join(server_url: str, token: str, node: str, role: str) -> dict[str, str]:
    """Reach the server named in the config with the token, as k3s does before it starts."""
    # The double talks plain HTTP on the API port; the URL the roles render stays https://.
    url = server_url.replace("https://", "http://").rstrip("/") + f"/test-double/join?node={node}&role={role}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (test network)
                return json.load(response)
        except urllib.error.HTTPError as err:
            if err.code == 401:
                log(f"join refused by {server_url}: wrong token")
                sys.exit(1)
            error: Exception = err
        except OSError as err:
            error = err
        if time.monotonic() > deadline:
            log(f"cannot join {server_url}: {error}")
            sys.exit(1)
        time.sleep(2)


def notify_ready() -> None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(b"READY=1")


def serve_forever(listen: bool) -> None:
    if listen:
        server = http.server.ThreadingHTTPServer(("0.0.0.0", 6443), JoinHandler)  # noqa: S104
        threading.Thread(target=server.serve_forever, daemon=True).start()
    notify_ready()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


def node_name(config: dict[str, object]) -> str:
    return str(config.get("node-name") or socket.gethostname())


def run_server(config: dict[str, object]) -> None:
    token = given_token(config)
    if config.get("server"):
        if not token:
            log("a joining server needs a token")
            sys.exit(1)
        answer = join(str(config["server"]), token, node_name(config), "server")
        write_secret(SERVER_DIR / "token", answer["token"])
        CLUSTER_ID.write_text(answer["cluster_id"] + "\n")
        log(f"joined cluster {answer['cluster_id']} through {config['server']}")
    elif not (SERVER_DIR / "token").exists():
        ca_hash = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
        full = f"K10{ca_hash}::server:{password(token) if token else secrets.token_hex(16)}"
        write_secret(SERVER_DIR / "token", full)
        CLUSTER_ID.write_text(secrets.token_hex(8) + "\n")
        MEMBERS.write_text(f"server {node_name(config)}\n")
        log(f"initialised a new cluster (cluster-init={config.get('cluster-init', 'false')})")
    node_token = SERVER_DIR / "node-token"
    if not node_token.exists():
        node_token.symlink_to(SERVER_DIR / "token")
    write_kubeconfig(config)
    serve_forever(listen=True)


def run_agent(config: dict[str, object]) -> None:
    token = given_token(config)
    if not config.get("server") or not token:
        log("an agent needs `server` and a token")
        sys.exit(1)
    answer = join(str(config["server"]), token, node_name(config), "agent")
    AGENT_DIR.mkdir(parents=True, exist_ok=True)
    (AGENT_DIR / "test-double-cluster-id").write_text(answer["cluster_id"] + "\n")
    serve_forever(listen=False)


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("--version", "-v", "version"):
        print(f"k3s version {VERSION} (k3s-test-double, NOT k3s)")
        print("go version none (a Python test double)")
        return
    command, args = argv[0], argv[1:]
    config_path = CONFIG
    for i, arg in enumerate(args):
        if arg in ("--config", "-c") and i + 1 < len(args):
            config_path = Path(args[i + 1])
        elif arg.startswith("--config="):
            config_path = Path(arg.split("=", 1)[1])
    config = read_config(config_path)
    if command == "server":
        run_server(config)
    elif command == "agent":
        run_agent(config)
    else:
        log(f"`k3s {command}` is not available: this test double has no Kubernetes API")
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
