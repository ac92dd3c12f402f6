"""Bad input to the cluster roles fails in the first (validation) tasks with a message that says what to change.

Every case is one inventory host (connection local) carrying one bad value; one ansible-playbook run per
role checks them all at once (each host fails on its own), so the suite stays fast. Runs use
`--check --tags always`: only the argument-spec and validation tasks (tagged `always`) run, and even a
validation that wrongly passed could not change this machine. A valid host in the same run must come
through, so each failure is caused by its bad value alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARG_SPEC_TASK = "Validating arguments against arg spec"
BAD_TOKEN = 'bad token$with"quotes'  # noqa: S105  (an invalid value under test, not a secret)
ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"

pytestmark = pytest.mark.skipif(shutil.which("ansible-playbook") is None, reason="ansible-playbook is not on PATH")


@dataclass
class Case:
    host: str
    variables: dict
    task: str  # the validation task expected to fail ("" = must pass)
    message: str = ""
    peers: int = 0  # extra servers in this host's own server group (even-count cases)
    groups: list[str] = field(default_factory=list)


@dataclass
class Run:
    returncode: int
    output: str
    failures: dict[str, tuple[str, str]]  # host -> (failed task, its result block)
    ok_hosts: set[str]


def host_os() -> dict[str, list[str]]:
    """The control node's OS in the form of common_supported_os, so only the value under test is bad."""
    fields = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    name = fields.get("ID", "").strip('"')
    version = fields.get("VERSION_ID", "").strip('"')
    return {{"debian": "Debian", "ubuntu": "Ubuntu"}.get(name, name.capitalize()): [version]}


def parse(output: str) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """Map each failed host to the task it failed in and its result block; list hosts that ended without failure."""
    failures: dict[str, tuple[str, str]] = {}
    task = ""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        header = re.match(r"^TASK \[(?:[\w.]+ : )?(.+?)\] \*", line)
        if header:
            task = header.group(1)
            continue
        fatal = re.match(r"^fatal: \[([^\]]+)\]", line)
        if fatal and fatal.group(1) not in failures:
            block = [line]
            for follow in lines[i + 1 :]:
                if re.match(r"^(ok|fatal|changed|skipping): \[|^TASK \[|^PLAY ", follow):
                    break
                block.append(follow)
            failures[fatal.group(1)] = (task, "\n".join(block))
    recap = output.split("PLAY RECAP", 1)[-1]
    ok_hosts = set(re.findall(r"^(\S+)\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", recap, flags=re.MULTILINE))
    return failures, ok_hosts


def start_cases(tmp_path: Path, role: str, cases: list[Case], play_group: str = "cases") -> subprocess.Popen:
    """Write the inventory and play for `cases` and start ansible-playbook (runs go in parallel)."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    hosts: dict[str, dict] = {}
    groups: dict[str, dict] = {play_group: {"hosts": {}}}
    for case in cases:
        own_group = f"servers_{case.host.replace('-', '_')}"
        members = [case.host] + [f"{case.host}-peer-{i}" for i in range(1, case.peers + 1)]
        hosts[case.host] = {**local, "k3s_server_group": own_group, **case.variables}
        groups[play_group]["hosts"][case.host] = {}
        groups.setdefault(own_group, {"hosts": {}})
        for member in members:
            groups[own_group]["hosts"][member] = {}
            hosts.setdefault(member, dict(local))
        for extra in case.groups:
            groups.setdefault(extra, {"hosts": {}})["hosts"][case.host] = {}
    inventory = {"all": {"hosts": hosts, "children": groups, "vars": {"common_supported_os": host_os()}}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    play = [
        {
            "name": "Validate",
            "hosts": play_group,
            "gather_facts": True,
            "gather_subset": ["min"],
            "roles": [{"role": role}],
        }
    ]
    (tmp_path / "play.json").write_text(json.dumps(play))
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_CACHE_PLUGIN": "memory",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORKS": "50",
    }
    env.pop("ANSIBLE_LOG_PATH", None)
    return subprocess.Popen(
        ["ansible-playbook", "-i", str(tmp_path / "inventory.json"), str(tmp_path / "play.json"), "--check"]
        + ["--tags", "always"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> Run:
    stdout, stderr = process.communicate(timeout=600)
    failures, ok_hosts = parse(stdout)
    return Run(process.returncode, stdout + stderr, failures, ok_hosts)


def run_cases(tmp_path: Path, role: str, cases: list[Case]) -> Run:
    return finish(start_cases(tmp_path, role, cases))


def airgap_dir(base: Path, name: str, good_checksum: bool) -> str:
    directory = base / name
    directory.mkdir(exist_ok=True)
    (directory / "k3s").write_bytes(b"#!/bin/sh\n")
    digest = hashlib.sha256(b"#!/bin/sh\n" if good_checksum else b"something else").hexdigest()
    (directory / "sha256sum-amd64.txt").write_text(f"{digest}  k3s\n")
    (directory / "sha256sum-arm64.txt").write_text(f"{digest}  k3s-arm64\n")
    return str(directory)


def common_cases() -> list[Case]:
    return [
        Case("swap-not-bool", {"common_disable_swap": "maybe"}, ARG_SPEC_TASK, "common_disable_swap"),
        Case("packages-not-list", {"common_packages": {"a": 1}}, ARG_SPEC_TASK, "common_packages"),
        Case("sysctls-not-dict", {"common_sysctls": ["net.ipv4.ip_forward=1"]}, ARG_SPEC_TASK, "common_sysctls"),
        Case(
            "unsupported-os",
            {"common_supported_os": {"Plan9": ["4"]}},
            "Check the operating system",
            "is not supported: use one of Plan9 4",
        ),
        Case(
            "nodeport-format",
            {"common_nodeport_range": "30000:32767"},
            "Check the NodePort range",
            "must look like 30000-32767",
        ),
        Case(
            "data-volume-id",
            {"common_data_volume_id": "/dev/nvme1n1"},
            "Check the data volume settings",
            "must be an EBS volume id like vol-0123456789abcdef0",
        ),
        Case("data-volume-fstype", {"common_data_volume_fstype": "ntfs"}, ARG_SPEC_TASK, "common_data_volume_fstype"),
    ]


# Valid settings, but every case host runs on this one machine: the same hostname twice. The check runs
# once for the play (run_once) and fails every host; it is the last validation task.
DUPLICATES = [Case("dup-a", {}, ""), Case("dup-b", {}, "")]


def server_cases(airgap: dict[str, str]) -> list[Case]:
    return [
        Case("valid", {}, ""),
        Case("valid-airgap", {"k3s_airgap_dir": airgap["good"]}, ""),
        Case("valid-ecr", {"k3s_ecr_registry": ECR_HOST}, ""),
        Case("wait-not-bool", {"k3s_wait_for_api": "maybe"}, ARG_SPEC_TASK, "k3s_wait_for_api"),
        Case("registries-not-dict", {"k3s_registries": "mirror.example"}, ARG_SPEC_TASK, "k3s_registries"),
        Case("port-not-int", {"k3s_api_port": "https"}, ARG_SPEC_TASK, "k3s_api_port"),
        Case("disable-not-list", {"k3s_server_disable": {"traefik": True}}, ARG_SPEC_TASK, "k3s_server_disable"),
        Case("extra-not-dict", {"k3s_server_config_extra": ["a=b"]}, ARG_SPEC_TASK, "k3s_server_config_extra"),
        Case("version-format", {"k3s_version": "1.34.1"}, "Check the k3s version format", "is not a k3s release name"),
        Case("version-suffix", {"k3s_version": "v1.34.1-k3s1"}, "Check the k3s version format", "like v1.34.1+k3s1"),
        Case(
            "two-servers",
            {},
            "Check the number of servers",
            "has 2 hosts: use 1 server, or an odd number (3, 5)",
            peers=1,
        ),
        Case("four-servers", {}, "Check the number of servers", "has 4 hosts", peers=3),
        Case("token-characters", {"k3s_token": BAD_TOKEN}, "Check the token characters", "break systemd and env files"),
        Case(
            "token-newline",
            {"k3s_token": "abcdefghijklmnop\nqrstuvwxyz"},
            "Check the token characters",
            "break systemd and env files",
        ),
        Case("token-short", {"k3s_token": "abc123"}, "Check that the token is long enough", "shorter than 16"),
        Case(
            "nodeport-excludes-30800",
            {"k3s_nodeport_range": "31000-32767"},
            "Check the NodePort range",
            "include the NodePorts the platform uses (30800): widen the range",
        ),
        Case(
            "nodeport-format",
            {"k3s_nodeport_range": "30000:32767"},
            "Check the NodePort range",
            "must look like 30000-32767",
        ),
        Case(
            "ecr-without-checksum",
            {"k3s_ecr_registry": ECR_HOST, "k3s_ecr_credential_provider_checksum": "abc"},
            "Check the ECR credential provider source",
            "pin the sha256 of the amd64 binary in k3s_ecr_credential_provider_sha256",
        ),
        # A checksum read from the binary's own host proves nothing: a URL is not a pin.
        Case(
            "ecr-checksum-from-url",
            {
                "k3s_ecr_registry": ECR_HOST,
                "k3s_ecr_credential_provider_checksum": "sha256:https://artifacts.k8s.io/x.sha256",
            },
            "Check the ECR credential provider source",
            "pin the sha256 of the amd64 binary",
        ),
        Case(
            "airgap-checksum-mismatch",
            {"k3s_airgap_dir": airgap["bad"]},
            "Check the air-gap binary against the release checksum",
            "Checksum mismatch",
        ),
        Case(
            "airgap-empty-dir",
            {"k3s_airgap_dir": airgap["empty"]},
            "Check that the air-gap directory holds the binary and its checksum file",
            "must hold 'k3s' and 'sha256sum-amd64.txt'",
        ),
        Case(
            "server-extra-join-key",
            {"k3s_server_config_extra": {"cluster-init": True}},
            "Check that the extra settings leave the join logic alone",
            "sets cluster-init",
        ),
    ]


AGENT_CASES = [
    Case("agent-valid", {}, ""),
    Case(
        "agent-extra-join-key",
        {"k3s_agent_config_extra": {"server": "https://10.0.0.1:6443"}},
        "Check that the extra settings leave the join logic alone",
        "sets server",
    ),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    """One ansible-playbook run per role, all started at once."""
    base = tmp_path_factory.mktemp("server")
    airgap = {
        "good": airgap_dir(base, "good", good_checksum=True),
        "bad": airgap_dir(base, "bad", good_checksum=False),
        "empty": str(base / "empty"),
    }
    (base / "empty").mkdir()
    started = {
        "common": start_cases(tmp_path_factory.mktemp("common"), "common", common_cases() + DUPLICATES),
        "server": start_cases(base, "k3s_server", server_cases(airgap)),
        "agent": start_cases(tmp_path_factory.mktemp("agent"), "k3s_agent", AGENT_CASES),
    }
    return {name: finish(process) for name, process in started.items()}


@pytest.fixture
def common_run(runs: dict[str, Run]) -> Run:
    return runs["common"]


@pytest.fixture
def server_run(runs: dict[str, Run]) -> Run:
    return runs["server"]


@pytest.fixture
def agent_run(runs: dict[str, Run]) -> Run:
    return runs["agent"]


def check(run: Run, case: Case) -> None:
    if not case.task:
        assert case.host in run.ok_hosts, f"{case.host} should pass validation:\n{run.output}"
        return
    assert case.host in run.failures, f"{case.host} should have failed:\n{run.output}"
    task, block = run.failures[case.host]
    assert task.startswith(case.task), f"{case.host} failed in '{task}', expected '{case.task}':\n{block}"
    assert " ".join(case.message.split()) in " ".join(block.split()), block


def test_common_single_valid_node_passes(tmp_path: Path) -> None:
    run = run_cases(tmp_path, "common", [Case("single", {}, "")])
    assert run.returncode == 0, run.output


@pytest.mark.parametrize("case", common_cases(), ids=lambda case: case.host)
def test_common_validation(common_run: Run, case: Case) -> None:
    check(common_run, case)


@pytest.mark.parametrize("case", server_cases({"good": "", "bad": "", "empty": ""}), ids=lambda case: case.host)
def test_server_validation(server_run: Run, case: Case) -> None:
    # Collected with placeholder paths for the ids and expectations; the run used real air-gap dirs.
    check(server_run, case)


@pytest.mark.parametrize("case", AGENT_CASES, ids=lambda case: case.host)
def test_agent_validation(agent_run: Run, case: Case) -> None:
    check(agent_run, case)


def test_common_duplicate_hostnames(common_run: Run) -> None:
    failed = {host: common_run.failures.get(host) for host in ("dup-a", "dup-b")}
    reported = [result for result in failed.values() if result]
    assert reported, common_run.output
    task, block = reported[0]
    assert task == "Check that node hostnames are unique", block
    assert "give every node its own hostname" in " ".join(block.split())
    assert not {"dup-a", "dup-b"} & common_run.ok_hosts


def test_bad_token_is_never_printed(server_run: Run) -> None:
    assert "bad token" not in server_run.output
    assert "with" + '"quotes' not in server_run.output


def test_validation_changes_nothing(common_run: Run, server_run: Run, agent_run: Run) -> None:
    for run in (common_run, server_run, agent_run):
        assert not re.search(r"changed=[1-9]", run.output.split("PLAY RECAP", 1)[-1]), run.output
