"""Print every skip of a test run: the harness's own (given as arguments) and pytest's (JUnit files).

Usage: report-skips.py [--require] REPORT_DIR ["tier: reason" ...]

With --require (REQUIRE_ALL_TIERS=1, as the GitHub workflow runs), it exits 1 when anything was not
proven: a harness skip, or a test skipped in every report of the run. A test skipped in one report
but passed in another (the app suite's PostgreSQL-only tests in its SQLite pass) was proven.
"""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def pytest_results(report_dir: Path) -> tuple[list[tuple[str, str, str]], set[str]]:
    """(report, test id, reason) of every skip, and the ids of every test that ran."""
    skips, ran = [], set()
    for report in sorted(report_dir.glob("*.xml")):
        for case in ET.parse(report).iter("testcase"):  # noqa: S314  (our own pytest reports)
            test_id = f"{case.get('classname')}::{case.get('name')}"
            skipped = case.find("skipped")
            if skipped is None:
                ran.add(test_id)
            else:
                skips.append((report.stem, test_id, skipped.get("message", "").strip()))
    return skips, ran


def main() -> int:
    args = sys.argv[1:]
    require = args[:1] == ["--require"]
    if require:
        args = args[1:]
    harness = args[1:]
    skips, ran = pytest_results(Path(args[0]))
    lines = harness + [f"{report}: {test_id}: {reason}" for report, test_id, reason in skips]
    print(f"\033[1m==> Skipped ({len(lines)})\033[0m")
    for line in lines:
        print(f"    - {line}")
    unproven = harness + [f"{report}: {test_id}" for report, test_id, _ in skips if test_id not in ran]
    if require and unproven:
        print(f"\033[31mREQUIRE_ALL_TIERS=1: {len(unproven)} skipped here and run nowhere else in this run:\033[0m")
        for line in unproven:
            print(f"    - {line}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
