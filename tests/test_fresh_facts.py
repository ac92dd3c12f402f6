"""Facts are fresh on every run: a node replaced since the last run is seen as the new machine.

After `terraform apply -replace`, the new instance answers at an address the inventory already knew.
With facts cached between runs (`gathering = smart` and a fact cache), a play that gathers facts
would skip the new machine and use the dead one's, so k3s would register it under the old node
name (and refuse it). The test runs a node play twice with the repository's ansible.cfg; between the
runs the "machine" changes (a local fact, read by the setup module like every other fact).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers.tools import ansible_tool

REPO = Path(__file__).resolve().parents[1]
PLAYBOOK = """\
- name: A node play, as in playbooks/cluster.yml
  hosts: node-1
  gather_facts: true
  module_defaults:
    ansible.builtin.setup:
      fact_path: {fact_path}
  tasks:
    - name: Show which machine answered
      ansible.builtin.debug:
        msg: "machine={{{{ ansible_facts.ansible_local.machine.id }}}}"
"""


def test_a_replaced_node_is_not_seen_through_cached_facts(tmp_path: Path) -> None:
    # The repository's settings, from a scratch folder so any cache they keep lands there.
    shutil.copy(REPO / "ansible.cfg", tmp_path / "ansible.cfg")
    facts_d = tmp_path / "facts.d"
    facts_d.mkdir()
    (tmp_path / "play.yml").write_text(PLAYBOOK.format(fact_path=facts_d))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    }
    seen = []
    for machine in ("the-instance-before-replace", "the-new-instance"):
        (facts_d / "machine.fact").write_text(json.dumps({"id": machine}))
        result = subprocess.run(
            [ansible_tool(), "-i", "node-1,", "-c", "local", "play.yml"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        seen += re.findall(r"machine=([\w-]+)", result.stdout)
    assert seen == ["the-instance-before-replace", "the-new-instance"]
