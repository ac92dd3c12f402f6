"""The ECR login module of playbooks/image.yml, against the AWS emulator: it returns what
community.docker.docker_login needs and never shows the password."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent


def test_returns_a_docker_login_with_the_password_masked(aws_env, aws_client):
    token = aws_client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(token).decode().split(":", 1)[1]
    result = subprocess.run(
        [
            str(BIN / "ansible"),
            "localhost",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-M",
            str(REPO / "roles" / "app" / "library"),
            "-m",
            "ecr_authorization_token",
            "-a",
            "region=eu-west-1",
        ],
        cwd=REPO,
        env={**os.environ, **aws_env, "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "json"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    # The timing callback of ansible.cfg prints around the JSON document.
    document, _ = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("\n{") + 1 :])
    answer = document["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert answer["username"] == "AWS"
    assert answer["registry"].startswith("https://")
    assert answer["password"] != password
    assert password not in result.stdout
