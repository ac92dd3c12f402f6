"""Every rendered document against the Kubernetes API schema of the pinned k3s release
(kubernetes-validate --strict), and through checkov's Kubernetes policies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pinned_k3s_minor

BIN = Path(sys.executable).parent
CHECKOV_VENV_BIN = Path(__file__).resolve().parents[2] / ".venv-checkov" / "bin"


def schema_version() -> str:
    """The pinned k3s minor, or the closest minor kubernetes-validate ships schemas for."""
    from kubernetes_validate.utils import all_versions

    minor = pinned_k3s_minor()
    if minor is None:
        pytest.skip("k3s_version (roles/k3s/defaults/main.yml) is missing: the Kubernetes version is unknown")
    supported = sorted({tuple(int(p) for p in v.split(".")[:2]) for v in all_versions()})
    wanted = tuple(int(p) for p in minor.split("."))
    closest = min(supported, key=lambda v: (abs(v[1] - wanted[1]) if v[0] == wanted[0] else 1000, -v[1]))
    return f"{closest[0]}.{closest[1]}.0"


def test_every_document_is_valid_for_the_pinned_kubernetes(rendered):
    version = schema_version()
    files = [str(p) for p in rendered.files()]
    result = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--kubernetes-version", version, *files],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # One "passed" line per document: nothing was skipped for an unknown kind.
    assert result.stdout.count(" passed ") == len(rendered.docs), result.stdout


def test_checkov_finds_nothing(rendered):
    checkov = shutil.which("checkov") or (CHECKOV_VENV_BIN / "checkov")
    if not Path(checkov).exists():
        pytest.skip("checkov is not installed (make setup puts it in .venv-checkov): the manifests were not scanned")
    result = subprocess.run(
        [
            str(checkov),
            "--framework",
            "kubernetes",
            "--directory",
            str(rendered.root),
            "--output",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, "\n".join(failed)
    assert result.returncode == 0, result.stderr[-2000:]
    assert summary["passed"] > 100, summary
    # Every skip is an in-place annotation with its reason.
    skipped = report["results"].get("skipped_checks", [])
    assert skipped, "the in-place skips were not seen: are the annotations still read?"
    for check in skipped:
        assert check["check_result"]["suppress_comment"].strip(), check["check_id"]
