"""The stand-ins of the deploy rehearsal: node containers at Terraform's addresses, a local registry.

Everything created here is named `rehearsal-issue11*` (containers, network, labels), so a crashed run
is cleaned up by the next one and nothing collides with the lab, Molecule or another test.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path

import yaml

NAME = "rehearsal-issue11"
REPO = Path(__file__).resolve().parents[2]
NODE_CONTEXT = Path(__file__).resolve().parent / "node"
# Run options of a systemd node without --privileged (DESIGN.md, the offline environment).
SYSTEMD_NODE = [
    "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
    "--security-opt", "seccomp=unconfined", "--cgroupns", "host",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
]  # fmt: skip


def docker(*args: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def build_node_image(release: str) -> str:
    """rehearsal-node:<debian12|debian13>, FROM the Molecule node image of that release."""
    tag = f"rehearsal-node:{release}"
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}  # Debian's docker.io has no BuildKit
    result = subprocess.run(
        ["docker", "build", "-q", "-t", tag, "--build-arg", f"BASE=k3s-node:{release}", str(NODE_CONTEXT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"building {tag} failed:\n{result.stdout}{result.stderr}")
    return tag


def remove_leftovers() -> None:
    """Containers and the network of an earlier run that did not clean up."""
    ids = docker("ps", "-aq", "--filter", f"label={NAME}", check=False).stdout.split()
    if ids:
        docker("rm", "-f", "-v", *ids, check=False)
    docker("network", "rm", NAME, check=False)


@dataclass
class Node:
    name: str  # inventory host name (the EC2 Name tag)
    group: str  # server or agent
    public_ip: str  # ansible_host in the inventory
    private_ip: str  # k3s_node_ip in the inventory

    @property
    def container(self) -> str:
        return f"{NAME}-{self.name}"

    @property
    def hostname(self) -> str:
        """What EC2 names an instance in a VPC: ip-<private address with dashes>."""
        return "ip-" + self.private_ip.replace(".", "-")

    def run(self, *command: str, check: bool = True) -> str:
        return docker("exec", self.container, *command, check=check).stdout


def nodes_of(inventory: Path) -> list[Node]:
    document = yaml.safe_load(inventory.read_text())["k3s_cluster"]["children"]
    return [
        Node(name, group, str(host["ansible_host"]), str(host["k3s_node_ip"]))
        for group in ("server", "agent")
        for name, host in (document[group].get("hosts") or {}).items()
    ]


def start_nodes(nodes: list[Node], vpc_cidr: str, public_key: str) -> None:
    """A network with the VPC's range and one container per instance at its private address."""
    gateway = str(ipaddress.ip_network(vpc_cidr)[-2])  # never one a subnet hands out first
    docker("network", "create", "--subnet", vpc_cidr, "--gateway", gateway, "--label", NAME, NAME)
    for index, node in enumerate(nodes):
        image = f"rehearsal-node:debian{12 + index % 2}"
        docker(
            "run", "-d", "--name", node.container, "--hostname", node.hostname, "--label", NAME,
            "--network", NAME, "--ip", node.private_ip, *SYSTEMD_NODE, image,
        )  # fmt: skip
        # What cloud-init does with the instance's key pair on a Debian cloud image.
        keys = "/home/admin/.ssh/authorized_keys"
        script = f"echo '{public_key}' > {keys} && chown admin:admin {keys} && chmod 600 {keys}"
        docker("exec", node.container, "sh", "-c", script)


@dataclass
class Registry:
    """Debian's docker-registry (distribution 2.8) on loopback, with an htpasswd file."""

    address: str  # 127.0.0.1:PORT
    username: str
    password: str
    process: subprocess.Popen

    def _request(self, method: str, path: str) -> urllib.request.Request:
        token = b64encode(f"{self.username}:{self.password}".encode()).decode()
        return urllib.request.Request(
            f"http://{self.address}{path}",
            method=method,
            headers={
                "Authorization": f"Basic {token}",
                "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                "application/vnd.oci.image.manifest.v1+json",
            },
        )

    def tags(self, repository: str) -> set[str]:
        with urllib.request.urlopen(self._request("GET", f"/v2/{repository}/tags/list"), timeout=10) as answer:  # noqa: S310
            return set(json.load(answer)["tags"] or [])

    def digest(self, repository: str, tag: str) -> str:
        with urllib.request.urlopen(self._request("HEAD", f"/v2/{repository}/manifests/{tag}"), timeout=10) as answer:  # noqa: S310
            return answer.headers["Docker-Content-Digest"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def start_registry(root: Path, port: int, username: str, password: str) -> Registry:
    root.mkdir(parents=True)
    htpasswd = subprocess.run(
        ["htpasswd", "-Bbn", username, password], capture_output=True, text=True, check=True
    ).stdout
    (root / "htpasswd").write_text(htpasswd)
    (root / "config.yml").write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "log": {"level": "warn"},
                "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
                "http": {"addr": f"127.0.0.1:{port}"},
                "auth": {"htpasswd": {"realm": NAME, "path": str(root / "htpasswd")}},
            }
        )
    )
    log = (root / "registry.log").open("w")
    process = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=log, stderr=log)
    registry = Registry(f"127.0.0.1:{port}", username, password, process)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)  # noqa: S310
        except urllib.error.HTTPError as answer:
            if answer.code == 401:  # up, and asking for the login
                return registry
        except OSError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    registry.stop()
    raise AssertionError(f"docker-registry did not start:\n{(root / 'registry.log').read_text()}")
