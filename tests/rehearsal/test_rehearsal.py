"""The deploy rehearsal: `make deploy`'s script, end to end, with stand-ins only where AWS and k3s are.

1. `terraform apply` against the AWS emulator (moto) writes inventory/terraform.yml, in a copy of the
   checkout (a git repository, so the image tag is a commit as on a laptop).
2. Node containers start at the private addresses the emulator gave the instances, on a Docker
   network with the VPC's range, each with sshd, the `admin` login user and a cloud-init stand-in.
   They start only when the inventory exists, as instances boot after apply returns: the wait step
   has to retry SSH.
3. scripts/deploy.sh (what `make deploy` runs) then waits for the nodes, builds the app image and
   pushes it to a real registry (Debian's docker-registry on loopback) standing in for ECR, logged in
   with the token of the same ECR code path (GetAuthorizationToken, answered by moto), and runs the
   real site.yml on the generated inventory: preflight (image in the registry), wait, the cluster
   roles on the k3s TEST DOUBLE, and then the first task that needs a Kubernetes API, where it stops.

What is overridden, and why, is in OVERRIDES (printed by the report test). Nothing here proves real
k3s, real ECR or real EC2: docs/aws.md lists what only a real account proves, with the commands.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.conftest import free_loopback_port
from tests.helpers.checkout import copy_checkout
from tests.helpers.python_base import base_image, image_build_args
from tests.helpers.terraform import cli_config, moto_provider_override, provider_mirror
from tests.rehearsal.support import (
    Node,
    Registry,
    build_node_image,
    nodes_of,
    remove_leftovers,
    start_nodes,
    start_registry,
)
from tests.terraform.support import MOTO_AMI, REGION

pytestmark = pytest.mark.docker

BIN = Path(sys.executable).parent
VPC_CIDR = "10.211.0.0/16"
CLUSTER = "rehearsal"
ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"  # moto's account and the region
API_STOP_PATTERN = re.compile(r"kubernetes\.core|Max retries exceeded|SSL|HTTPSConnectionPool|kubeconfig", re.I)

# Everything the rehearsal changes from what an operator's run uses, and why. Environment variables
# are the operator's own setup (credentials, key); the Ansible variables are the stand-ins.
OVERRIDES = {
    "ansible_host": "the private address (k3s_node_ip): the inventory's public addresses are EC2's NAT, "
    "which containers do not have; the private ones are Terraform's own",
    "k3s_airgap_dir": "the k3s TEST DOUBLE's air-gap directory: k3s cannot be downloaded here, and the "
    "double runs no Kubernetes",
    "k3s_wait_for_api": "false: the double has no API to wait for",
    "k3s_protect_kernel_defaults": "false: containers share the host's kernel sysctls (as in the lab)",
    "k3s_ecr_credential_provider_src": "the double's stand-in binary: artifacts.k8s.io is unreachable here "
    "(the pinned download is what only a real account proves)",
    "app_image_repository": "the loopback registry standing in for ECR (the repository path is Terraform's)",
    "app_image_build_args": "PYTHON_IMAGE where the official base image cannot be pulled, PIP_TRUSTED_HOST where "
    "the host's pip needs an extra CA (tests/helpers/python_base.py; the image tier does the same)",
    "env AWS_*": "moto's endpoint and throwaway credentials",
    "env ANSIBLE_PRIVATE_KEY_FILE": "the key whose public half Terraform put in the key pair (an operator's ssh-agent)",
    "env HOME": "a scratch home, so the tester's ~/.docker and ~/.ansible are untouched",
    "env ANSIBLE_SSH_COMMON_ARGS": "UserKnownHostsFile in the scratch folder (ssh ignores $HOME for it)",
    "terraform moto_override.tf": "the provider's endpoints point at moto",
}


@dataclass
class Rehearsal:
    root: Path  # the checkout copy the operator works in
    env: dict[str, str]
    nodes: list[Node]
    registry: Registry
    repository: str  # <name> in the registry (Terraform's ECR repository name)
    tag: str  # the commit of the copy
    returncode: int
    output: str
    seconds: dict[str, float] = field(default_factory=dict)

    def site_yml_output(self) -> str:
        return self.output.split("4/4 site.yml", 1)[1] if "4/4 site.yml" in self.output else ""

    def playbook(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "ansible-playbook"), *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )


def ssh_key(directory: Path) -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    private = directory / "id_ed25519"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    )
    private.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode() + " operator@rehearsal"


def git_commit(root: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "rehearsal", "GIT_AUTHOR_EMAIL": "rehearsal@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "rehearsal", "GIT_COMMITTER_EMAIL": "rehearsal@example.invalid"}
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "rehearsal"]):
        subprocess.run(["git", *command], cwd=root, env=env, check=True, capture_output=True)
    return subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def timed(seconds: dict[str, float], name: str, start: float) -> None:
    seconds[name] = round(time.monotonic() - start, 1)


@pytest.fixture(scope="module")
def rehearsal(
    tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str, aws_env: dict[str, str], aws_client, terraform_ready
) -> Iterator[Rehearsal]:
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        pytest.skip("no Docker engine answers (scripts/ensure-docker.sh starts one): the rehearsal needs containers")
    for tool in ("docker-registry", "htpasswd"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian's docker-registry, apache2-utils: the tier installs them)")
    seconds: dict[str, float] = {}
    base = tmp_path_factory.mktemp("rehearsal")
    remove_leftovers()

    start = time.monotonic()
    root = copy_checkout(base / "checkout")
    tag = git_commit(root)
    home = base / "home"
    home.mkdir()
    public_key = ssh_key(base)
    for release in ("debian12", "debian13"):
        build_node_image(release)
    airgap = base / "k3s-airgap"
    subprocess.run(
        [str(BIN / "ansible-playbook"), "molecule/resources/k3s-test-double/build-airgap.yml"]
        + ["-e", f"k3s_test_double_airgap_dir={airgap}"],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=300,
    )
    python_base = base_image()
    timed(seconds, "stand-ins ready (node images, test double, base image)", start)

    # The registry accepts exactly the login the ECR token path will produce (moto's token).
    token = aws_client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    username, password = base64.b64decode(token).decode().split(":", 1)
    registry = start_registry(base / "registry", free_loopback_port(), username, password)

    terraform_dir = root / "terraform"
    (terraform_dir / "moto_override.tf").write_text(moto_provider_override(moto_endpoint, REGION))
    (terraform_dir / "terraform.tfvars.json").write_text(
        json.dumps(
            {
                "region": REGION,
                "cluster_name": CLUSTER,
                "admin_cidrs": ["198.51.100.0/24"],
                "ssh_public_key": public_key,
                "ami_id": MOTO_AMI,
                "vpc_cidr": VPC_CIDR,
                "server_count": 1,
                # One of each group is all the hand-off needs; each more node costs every task of site.yml.
                "agent_count": 1,
                "ecr_force_delete": True,
            },
            indent=2,
        )
    )
    overrides = {
        "ansible_host": "{{ k3s_node_ip | default(inventory_hostname) }}",
        "k3s_airgap_dir": str(airgap),
        "k3s_wait_for_api": False,
        "k3s_protect_kernel_defaults": False,
        "k3s_ecr_credential_provider_src": str(airgap / "ecr-credential-provider"),
        "app_image_repository": f"{registry.address}/{CLUSTER}/app",
    }
    if image_build_args(python_base):
        overrides["app_image_build_args"] = image_build_args(python_base)
    (base / "overrides.yml").write_text(yaml.safe_dump(overrides))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "ANSIBLE_", "AWS_"))}
    env.update(aws_env)
    env.update(
        HOME=str(home),
        PATH=f"{BIN}{os.pathsep}{env['PATH']}",
        TF_CLI_CONFIG_FILE=str(cli_config(provider_mirror(), base)),
        TF_IN_AUTOMATION="1",
        TF_ARGS="-auto-approve -input=false",
        ANSIBLE_ARGS=f"-e @{base / 'overrides.yml'}",
        ANSIBLE_PRIVATE_KEY_FILE=str(base / "id_ed25519"),
        # ssh reads known_hosts from the account's home (passwd), not $HOME: keep the tester's untouched.
        ANSIBLE_SSH_COMMON_ARGS=f"-o UserKnownHostsFile={base / 'known_hosts'}",
        ANSIBLE_NOCOLOR="1",
    )

    log = base / "deploy.log"
    nodes: list[Node] = []
    start = time.monotonic()
    with log.open("w") as out:
        deploy = subprocess.Popen(
            [str(root / "scripts" / "deploy.sh")], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT
        )

        def boot_instances() -> None:
            """The instances boot only once `terraform apply` is done: the wait step must retry SSH."""
            inventory = root / "inventory" / "terraform.yml"
            while deploy.poll() is None and not (inventory.exists() and "Apply complete!" in log.read_text()):
                time.sleep(0.5)
            if inventory.exists():
                timed(seconds, "terraform apply (from the start of make deploy)", start)
                nodes.extend(nodes_of(inventory))
                start_nodes(nodes, VPC_CIDR, public_key)

        booting = threading.Thread(target=boot_instances, daemon=True)
        booting.start()
        try:
            returncode = deploy.wait(timeout=2400)
        finally:
            if deploy.poll() is None:
                deploy.kill()
        booting.join(timeout=120)
    timed(seconds, "make deploy (scripts/deploy.sh) until the stop", start)

    result = Rehearsal(
        root=root,
        env=env,
        nodes=nodes,
        registry=registry,
        repository=f"{CLUSTER}/app",
        tag=tag,
        returncode=returncode,
        output=log.read_text(),
        seconds=seconds,
    )
    try:
        yield result
    finally:
        registry.stop()
        remove_leftovers()


def recap(output: str) -> dict[str, dict[str, int]]:
    """The last PLAY RECAP of an ansible-playbook output: host -> counters."""
    block = output.rsplit("PLAY RECAP", 1)[-1]
    return {
        host: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counters)}
        for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", block, flags=re.MULTILINE)
    }


def failed_task(output: str) -> tuple[str, str]:
    """(task name, its failure) of the first failure (`fatal:`, or `failed:` of a loop item) that was not
    ignored, in an ansible-playbook output."""
    for match in re.finditer(r"^(?:fatal|failed): \[", output, flags=re.MULTILINE):
        after = output[match.end() :]
        block = re.split(r"^(?:TASK|PLAY|ok:|changed:|skipping:|fatal:) ", after, maxsplit=1, flags=re.MULTILINE)[0]
        if "...ignoring" in block:
            continue
        tasks = re.findall(r"^TASK \[(.+?)\]", output[: match.start()], flags=re.MULTILINE)
        return (tasks[-1] if tasks else ""), block[:3000]
    return "", ""


def test_make_deploy_runs_every_step_and_stops_where_a_kubernetes_api_is_needed(rehearsal: Rehearsal) -> None:
    out = rehearsal.output
    steps = ["1/4 terraform apply", "2/4 Waiting for SSH", "3/4 Building the app image", "4/4 site.yml"]
    positions = [out.find(step) for step in steps]
    assert -1 not in positions, out[-5000:]
    assert positions == sorted(positions), out[-5000:]
    assert "Apply complete!" in out
    site = rehearsal.site_yml_output()
    task, failure = failed_task(site)
    # The only failure: a control-node task of the database or app stage reaching for the API, which
    # the test double does not serve. Every node came through the cluster stage without a failure.
    assert rehearsal.returncode != 0, site[-5000:]
    assert failure.startswith("localhost]"), f"stopped at {task!r} on a node:\n{failure or site[-5000:]}"
    assert task.startswith(("postgres :", "app :")), f"stopped at {task!r}, before the API was needed:\n{failure}"
    assert API_STOP_PATTERN.search(failure), failure
    counters = recap(site)
    assert {node.name for node in rehearsal.nodes} <= set(counters), counters
    for node in rehearsal.nodes:
        assert counters[node.name]["failed"] == 0, counters
        assert counters[node.name]["unreachable"] == 0, counters


def test_the_nodes_are_reached_as_the_inventory_says(rehearsal: Rehearsal) -> None:
    """ansible_user from Terraform (admin on Debian), through SSH with the key pair's key, then sudo."""
    inventory = yaml.safe_load((rehearsal.root / "inventory" / "terraform.yml").read_text())
    assert inventory["k3s_cluster"]["vars"]["ansible_user"] == "admin"
    for node in rehearsal.nodes:
        journal = node.run("journalctl", "--no-pager", "-u", "ssh.service")
        assert re.search(r"Accepted publickey for admin from", journal), node.name
        assert node.run("stat", "-c", "%U", "/etc/rancher/k3s/config.yaml").strip() == "root"


def test_terraforms_groups_and_private_addresses_are_what_k3s_got(rehearsal: Rehearsal) -> None:
    servers = [n for n in rehearsal.nodes if n.group == "server"]
    agents = [n for n in rehearsal.nodes if n.group == "agent"]
    assert len(servers) == 1
    assert len(agents) == 1
    (server,) = servers
    members = server.run("cat", "/var/lib/rancher/k3s/server/test-double-members").split("\n")
    # Node names come from each machine's own facts (ip-<private address>, as on EC2).
    assert set(filter(None, members)) == {f"server {server.hostname}"} | {f"agent {a.hostname}" for a in agents}
    for node in rehearsal.nodes:
        config = yaml.safe_load(node.run("cat", "/etc/rancher/k3s/config.yaml"))
        assert config["node-ip"] == node.private_ip, node.name
        unit = "k3s.service" if node.group == "server" else "k3s-agent.service"
        assert node.run("systemctl", "is-active", unit).strip() == "active", node.name
        if node.group == "agent":
            assert config["server"] == f"https://{server.private_ip}:6443"


def test_site_yml_waited_for_cloud_init_before_changing_a_node(rehearsal: Rehearsal) -> None:
    for node in rehearsal.nodes:
        log = node.run("cat", "/var/log/cloud-init-stand-in.log")
        events: dict[str, float] = {}
        for line in log.splitlines():  # "<time> wait-start|wait-end"; the first of each counts
            stamp, event = line.split()
            events.setdefault(event, float(stamp))
        assert {"wait-start", "wait-end"} <= set(events), log
        # The common role writes its files after cloud-init said it was done.
        first_change = float(node.run("stat", "-c", "%.9Y", "/etc/sysctl.d/90-k3s.conf"))
        assert events["wait-start"] <= events["wait-end"] < first_change, (node.name, events, first_change)


def test_the_image_site_yml_checked_is_the_pushed_commit_and_is_marked_deployed(rehearsal: Rehearsal) -> None:
    tags = rehearsal.registry.tags(rehearsal.repository)
    assert tags == {rehearsal.tag, f"deployed-{rehearsal.tag}"}
    assert rehearsal.registry.digest(rehearsal.repository, rehearsal.tag) == rehearsal.registry.digest(
        rehearsal.repository, f"deployed-{rehearsal.tag}"
    )
    site = rehearsal.site_yml_output()
    assert "TASK [app : Stop when the image is not in the registry]" in site
    assert "TASK [app : Tag the image as deployed" in site


def test_the_ecr_registry_from_terraform_configures_the_kubelet_credential_provider(rehearsal: Rehearsal) -> None:
    for node in rehearsal.nodes:
        config = yaml.safe_load(node.run("cat", "/var/lib/rancher/credentialprovider/config.yaml"))
        (provider,) = config["providers"]
        assert provider["matchImages"] == [ECR_HOST]
        assert {"name": "AWS_REGION", "value": REGION} in provider["env"]


def test_site_yml_stops_before_any_change_when_the_tag_is_not_pushed(rehearsal: Rehearsal) -> None:
    overrides = rehearsal.env["ANSIBLE_ARGS"].split()
    result = rehearsal.playbook("site.yml", *overrides, "-e", "app_image_tag=not-pushed-yet")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{rehearsal.registry.address}/{rehearsal.repository}:not-pushed-yet is not in its registry" in output
    assert "ansible-playbook playbooks/image.yml -e app_image_tag=not-pushed-yet" in output
    assert output.count("PLAY [") == 1, "a play after the preflight ran"


def test_the_registry_check_says_when_the_login_is_refused(rehearsal: Rehearsal) -> None:
    repository = f"{rehearsal.registry.address}/{rehearsal.repository}"
    result = subprocess.run(
        [str(BIN / "ansible"), "localhost", "-M", "roles/app/library", "-m", "registry_image"]
        + ["-a", f"repository={repository} tag={rehearsal.tag} username=AWS password=an-expired-token"],
        cwd=rehearsal.root,
        env=rehearsal.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "401 Unauthorized (the registry refused the login)" in result.stdout
    assert "an-expired-token" not in result.stdout + result.stderr


def test_report(rehearsal: Rehearsal, capsys: pytest.CaptureFixture[str]) -> None:
    """What the rehearsal overrode and how long its steps took (printed into the tier's log)."""
    task, _ = failed_task(rehearsal.site_yml_output())
    with capsys.disabled():
        print(f"\n    stopped where a Kubernetes API is needed: TASK [{task}] (the k3s test double serves none)")
        for name, why in OVERRIDES.items():
            print(f"    overridden: {name}: {why}")
        for step, seconds in rehearsal.seconds.items():
            print(f"    {step}: {seconds} s")
    assert task
