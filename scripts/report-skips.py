"""Print every skip of a test run: the harness's own (given as arguments) and pytest's (JUnit files).

Usage: report-skips.py REPORT_DIR ["tier: reason" ...]
"""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def pytest_skips(report_dir: Path) -> list[str]:
    lines = []
    for report in sorted(report_dir.glob("*.xml")):
        for case in ET.parse(report).iter("testcase"):  # noqa: S314  (our own pytest reports)
            skipped = case.find("skipped")
            if skipped is not None:
                test_id = f"{case.get('classname')}::{case.get('name')}"
                lines.append(f"{report.stem}: {test_id}: {skipped.get('message', '').strip()}")
    return lines


def main() -> None:
    skips = sys.argv[2:] + pytest_skips(Path(sys.argv[1]))
    print(f"\033[1m==> Skipped ({len(skips)})\033[0m")
    for line in skips:
        print(f"    - {line}")


if __name__ == "__main__":
    main()
