"""The harness's shell and Python helpers, run as `make test` runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_find_tf_mirror_prefers_the_users_plugin_folder(tmp_path: Path) -> None:
    mirror = tmp_path / ".local/share/terraform/plugins"
    (mirror / "registry.terraform.io/hashicorp/aws/5.100.0").mkdir(parents=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    result = subprocess.run([REPO / "scripts/find-tf-mirror.sh"], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == str(mirror)


def test_report_skips_lists_harness_and_pytest_skips(tmp_path: Path) -> None:
    (tmp_path / "unit.xml").write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_x" name="test_a"/>'
        '<testcase classname="tests.test_x" name="test_b"><skipped message="no terraform binary"/></testcase>'
        "</testsuite></testsuites>"
    )
    result = subprocess.run(
        [sys.executable, REPO / "scripts/report-skips.py", tmp_path, "cluster: k3s not reachable"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "Skipped (2)" in lines[0]
    assert "- cluster: k3s not reachable" in lines
    assert "- unit: tests.test_x::test_b: no terraform binary" in lines


def test_node_images_rejects_an_unknown_tag() -> None:
    result = subprocess.run([REPO / "scripts/node-images.sh", "debian11"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "unknown node image tag 'debian11'" in result.stderr


def test_report_skips_require_fails_only_on_what_ran_nowhere(tmp_path: Path) -> None:
    """--require: a test skipped in one report but run in another (app SQLite/PostgreSQL) was proven."""
    (tmp_path / "app-sqlite.xml").write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_db" name="test_race"><skipped message="needs PostgreSQL"/></testcase>'
        "</testsuite></testsuites>"
    )
    (tmp_path / "app-postgres.xml").write_text(
        '<testsuites><testsuite name="pytest"><testcase classname="tests.test_db" name="test_race"/>'
        "</testsuite></testsuites>"
    )
    command = [sys.executable, REPO / "scripts/report-skips.py", "--require", tmp_path]
    assert subprocess.run(command, capture_output=True, text=True).returncode == 0
    (tmp_path / "terraform.xml").write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_tf" name="test_apply"><skipped message="no terraform binary"/></testcase>'
        "</testsuite></testsuites>"
    )
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    assert "- terraform: tests.test_tf::test_apply" in result.stdout
    assert subprocess.run([*command, "lint: no terraform"], capture_output=True, text=True).returncode == 1
