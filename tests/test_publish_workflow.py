"""The workflow's delivery path: `image-scan` builds and scans the image on every run, `publish` pushes it
to ECR on pushes to main only, after every other job, as the only job that may mint an OIDC token.

The workflow file is read as data; GitHub's schema (check-jsonschema, lint tier) and checkov's GitHub
Actions checks (scan tier) look at the same file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
ON_MAIN_PUSH = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
# owner/repo[/path]@<commit SHA> # v<version>: a tag can be moved to other code (trivy-action's were,
# in March 2026: GHSA-69fq-xp46-6x23); a commit cannot. The comment says which release it is.
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+){1,2}$")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def publish(workflow: dict[str, Any]) -> dict[str, Any]:
    assert "publish" in workflow["jobs"], "ci.yml has no publish job"
    return workflow["jobs"]["publish"]


def condition(step_or_job: dict[str, Any]) -> str:
    text = str(step_or_job.get("if", "")).strip()
    text = text.removeprefix("${{").removesuffix("}}")
    return " ".join(text.split())


def step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    steps = [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(f"{action}@")]
    assert len(steps) == 1, f"expected one {action} step, found {len(steps)}"
    return steps[0]


def test_publish_runs_on_pushes_to_main_only(workflow: dict[str, Any], publish: dict[str, Any]) -> None:
    assert workflow["on"]["push"] == {"branches": ["main"]}
    assert condition(publish) == ON_MAIN_PUSH


def test_publish_waits_for_every_other_job(workflow: dict[str, Any], publish: dict[str, Any]) -> None:
    needs = publish.get("needs", [])
    needs = [needs] if isinstance(needs, str) else needs
    others = set(workflow["jobs"]) - {"publish"}
    assert set(needs) == others, f"publish must need every test job and the scan; missing {others - set(needs)}"


def permissions_of(entity: dict[str, Any]) -> dict[str, str]:
    value = entity.get("permissions", {})
    assert not isinstance(value, str), f"permissions must be listed, not {value!r} (write-all grants id-token)"
    return value


def test_only_publish_may_mint_an_oidc_token(workflow: dict[str, Any], publish: dict[str, Any]) -> None:
    assert permissions_of(workflow) == {"contents": "read"}
    assert permissions_of(publish) == {"contents": "read", "id-token": "write"}
    for name, job in workflow["jobs"].items():
        if name != "publish":
            assert "id-token" not in permissions_of(job), name


def test_publish_runs_in_no_environment(publish: dict[str, Any]) -> None:
    """An environment turns the token's sub into repo:<repo>:environment:<name>: the role refuses it."""
    assert "environment" not in publish


def test_publish_assumes_the_role_with_oidc_and_no_stored_key(publish: dict[str, Any]) -> None:
    inputs = step_using(publish, "aws-actions/configure-aws-credentials")["with"]
    assert inputs["role-to-assume"] == "${{ vars.AWS_PUSH_ROLE_ARN }}"
    assert inputs["aws-region"] == "${{ vars.AWS_REGION }}"
    assert not {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"} & set(inputs)
    assert "secrets." not in yaml.safe_dump(publish)


def test_publish_pushes_the_scanned_image_tagged_with_the_full_commit(publish: dict[str, Any]) -> None:
    runs = "\n".join(str(step.get("run", "")) for step in publish["steps"]).replace("\\\n", " ")
    push = [line for line in runs.splitlines() if "playbooks/image.yml" in line]
    assert push, "publish must push with playbooks/image.yml (the path make deploy uses)"
    assert re.search(r"app_image_tag=(\$GITHUB_SHA|\$\{GITHUB_SHA\}|\$\{\{ github\.sha \}\})(\s|$)", push[0]), push
    assert "--short" not in runs
    # The image loaded from the scan job is the one scanned: its id is compared before the push.
    assert "needs.image-scan.outputs.image-id" in yaml.safe_dump(publish)
    summary = [line for line in runs.splitlines() if "GITHUB_STEP_SUMMARY" in line]
    assert summary, "publish must write the image reference to the job summary"


def test_pull_requests_build_and_scan_but_never_push(workflow: dict[str, Any]) -> None:
    scan_job = workflow["jobs"]["image-scan"]
    assert condition(scan_job) == "", "image-scan must run for pull requests too"
    scan = step_using(scan_job, "anchore/scan-action")
    steps = scan_job["steps"]
    builds = [i for i, s in enumerate(steps) if "docker build" in str(s.get("run", ""))]
    assert len(builds) == 1, "the image is built once"
    assert builds[0] < steps.index(scan)
    assert {k: str(v).lower() for k, v in scan["with"].items() if k != "image" and k != "output-format"} == {
        "fail-build": "true",
        "severity-cutoff": "critical",
        "only-fixed": "true",
    }
    # Handing the image to publish happens on main only; nothing in this job can reach AWS.
    for step in steps[steps.index(scan) + 1 :]:
        assert condition(step) == ON_MAIN_PUSH, step
    assert not [s for s in steps if str(s.get("uses", "")).startswith("aws-actions/")]


def action_files() -> list[Path]:
    return [WORKFLOW, *sorted((REPO / ".github" / "actions").glob("*/action.yml"))]


@pytest.mark.parametrize("path", action_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_action_is_pinned_to_a_commit(path: Path) -> None:
    uses = re.findall(r"^\s*(?:-\s*)?uses:\s*(.+?)\s*$", path.read_text(), flags=re.MULTILINE)
    remote = [u for u in uses if not u.startswith("./")]
    assert remote
    unpinned = [u for u in remote if not PINNED.match(u)]
    assert not unpinned, f"pin these to a commit SHA with a '# vX.Y.Z' comment: {unpinned}"
