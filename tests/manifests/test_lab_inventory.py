"""The URLs `make lab` prints are answered: every host in them is one the app allows.

The app's manifests are rendered on the control node (a localhost play), so the lab's settings on
the cluster group must reach that play. Rendered with inventory/lab.yml exactly as `make lab` runs it.
"""

from __future__ import annotations

import re

import pytest
from conftest import REPO, render_or_fail


@pytest.fixture(scope="module")
def lab_render(tmp_path_factory):
    base = tmp_path_factory.mktemp("render-lab")
    credentials = base / "credentials"
    variables = {"postgres_credentials_dir": str(credentials), "app_credentials_dir": str(credentials)}
    return render_or_fail(base / "manifests", variables, str(REPO / "inventory" / "lab.yml"))


def printed_hosts() -> set[str]:
    """The literal hosts of the URLs scripts/lab.sh prints when the lab is up, plus the nodes'."""
    script = (REPO / "scripts" / "lab.sh").read_text()
    hosts = set(re.findall(r'note "(?:https?|\$scheme)://([0-9a-z.]+):', script))  # $scheme: http or https
    hosts |= set(re.findall(r"[a-z0-9-]+:(\d+\.\d+\.\d+\.\d+)", script.split("NODES=(", 1)[1].split(")", 1)[0]))
    return hosts


def test_every_url_make_lab_prints_is_an_allowed_host(lab_render):
    hosts = printed_hosts()
    assert "127.0.0.1" in hosts, "lab.sh no longer prints the loopback URL: update this test"
    allowed = lab_render.one("ConfigMap")["data"]["DJANGO_ALLOWED_HOSTS"].split(",")
    assert hosts <= set(allowed), f"not allowed: {sorted(hosts - set(allowed))}"
