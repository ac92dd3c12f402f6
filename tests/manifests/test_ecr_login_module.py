"""The ECR login module of the image and registry steps, against the AWS emulator: it returns the
login community.docker.docker_login and registry_image need, usable as registered, and a task with
no_log shows none of it."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent
PLAY = """\
- name: Use the ECR login as the roles do
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Get the login
      ecr_authorization_token:
        region: eu-west-1
      register: login
      no_log: true

    - name: Check that the registered password is the token's, not a mask
      ansible.builtin.assert:
        that:
          - login.username == 'AWS'
          - login.registry is match('https://')
          - login.password | hash('sha256') == '{digest}'
        quiet: true
"""


def test_the_registered_login_is_usable_and_never_shown(aws_env, aws_client, tmp_path):
    token = aws_client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(token).decode().split(":", 1)[1]
    (tmp_path / "play.yml").write_text(PLAY.format(digest=hashlib.sha256(password.encode()).hexdigest()))
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-v", str(tmp_path / "play.yml")]
        + ["-e", f"ansible_python_interpreter={sys.executable}", "-M", str(REPO / "roles" / "app" / "library")],
        cwd=REPO,
        env={**os.environ, **aws_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert password not in result.stdout + result.stderr
