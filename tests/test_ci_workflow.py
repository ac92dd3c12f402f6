"""The GitHub workflow runs every tier of `make test`, fails a job whose tier skips, and caches
`make setup` between jobs; REQUIRE_ALL_TIERS=1 turns a skip into a failure."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"


def all_tiers() -> list[str]:
    match = re.search(r"^ALL_TIERS=\(([^)]*)\)", (REPO / "scripts" / "test.sh").read_text(), flags=re.MULTILINE)
    assert match, "scripts/test.sh no longer defines ALL_TIERS"
    return match[1].split()


def steps_of(job: dict) -> list[dict]:
    """A job's steps, with the steps of the repository's own composite actions in place."""
    steps = []
    for step in job.get("steps", []):
        uses = step.get("uses", "")
        if uses.startswith("./"):
            action = yaml.safe_load((REPO / uses / "action.yml").read_text())
            steps += action["runs"]["steps"]
        else:
            steps.append(step)
    return steps


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def tiers_run_by(job: dict) -> set[str]:
    tiers: set[str] = set()
    for step in steps_of(job):
        for line in str(step.get("run", "")).splitlines():
            tiers |= set(re.findall(r"\bmake test-([a-z]+)", line))
            if re.search(r"\bmake test\b(?!-)", line):
                tiers |= set(all_tiers())
            script = re.search(r"scripts/test\.sh((?: [a-z]+)*)", line)
            if script:
                tiers |= set(script[1].split()) or set(all_tiers())
    return tiers


def test_every_tier_of_make_test_is_run_by_some_job(workflow: dict) -> None:
    run = set().union(*(tiers_run_by(job) for job in workflow["jobs"].values()))
    missing = [tier for tier in all_tiers() if tier not in run]
    assert not missing, f"tiers of scripts/test.sh no job of ci.yml runs: {missing}"


def test_the_cluster_tier_keeps_a_job_of_its_own(workflow: dict) -> None:
    jobs = [name for name, job in workflow["jobs"].items() if "cluster" in tiers_run_by(job)]
    assert jobs == ["cluster"]


def test_a_skip_fails_the_job(workflow: dict) -> None:
    env = workflow.get("env", {})
    for name, job in workflow["jobs"].items():
        assert str({**env, **job.get("env", {})}.get("REQUIRE_ALL_TIERS")) == "1", name


def test_make_setup_is_cached_on_every_requirements_file(workflow: dict) -> None:
    """Each job restores the virtualenvs keyed on every file the Makefile's setup stamps depend on."""
    makefile = (REPO / "Makefile").read_text()
    requirements = set()
    for prerequisites in re.findall(r"^\$\((?:CHECKOV_)?VENV\)/\.stamp:(.*)$", makefile, flags=re.MULTILINE):
        requirements |= set(prerequisites.split())
    assert requirements
    for name, job in workflow["jobs"].items():
        steps = steps_of(job)
        if not any("make " in str(s.get("run", "")) for s in steps):
            continue  # a job that uses none of the project's tools (image-scan)
        caches = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache@")]
        assert caches, f"job {name} does not cache make setup"
        paths = caches[0]["with"]["path"].split()
        assert {".venv", ".venv-checkov"} <= set(paths), name
        key = caches[0]["with"]["key"]
        assert all(f"'{requirement}'" in key for requirement in requirements), (name, key)
        runs = [str(s.get("run", "")) for s in steps]
        setup = next(i for i, run in enumerate(runs) if "make setup" in run)
        assert steps.index(caches[0]) < setup, f"job {name} runs make setup before restoring the cache"


def harness(tier: str, require: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("K3S_AIRGAP_DIR", "REQUIRE_ALL_TIERS")}
    # A dead proxy: k3s cannot be had, so the cluster tier skips here whatever the machine.
    env.update(HTTPS_PROXY="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    if require:
        env["REQUIRE_ALL_TIERS"] = "1"
    return subprocess.run(
        [REPO / "scripts" / "test.sh", tier], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_require_all_tiers_turns_a_skipped_tier_into_a_failure() -> None:
    relaxed = harness("cluster", require=False)
    assert relaxed.returncode == 0, relaxed.stderr
    assert re.search(r"cluster\s+skipped", relaxed.stderr)
    strict = harness("cluster", require=True)
    assert strict.returncode != 0
    assert re.search(r"cluster\s+FAILED", strict.stderr)
    assert "REQUIRE_ALL_TIERS=1" in strict.stderr
