"""A throwaway copy of the checkout, for tests that run the operator's commands as they are typed.

Files git tracks or would track (untracked, not ignored) are copied with their times, nothing else:
no virtualenv, no .cache, no credentials/, no kubeconfig. Whatever the commands then write lands in
the copy, never in the repository.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def copy_checkout(dest: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if not source.is_file():  # deleted in the working tree
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return dest


def snapshot(root: Path) -> dict[str, int]:
    """Every file under root with its size: what a run wrote shows up as a difference."""
    return {str(path.relative_to(root)): path.stat().st_size for path in root.rglob("*") if path.is_file()}
