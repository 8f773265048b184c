"""Adds up what a CI run executed: pytest's closing summaries and schemathesis's test cases.

Usage: python .ci/tally.py LOG  — prints one line, `ci: N passed, N failed, N skipped`,
and exits 1 when the log holds no executed test at all.
"""

import re
import sys

# pytest's closing line, with or without its `=====` banner: "526 passed, 3 skipped in 200.38s"
PYTEST_SUMMARY = re.compile(r"^=*\s*((?:\d+ [a-z]+, )*\d+ [a-z]+) in \d+(?:\.\d+)?s\b")
# schemathesis's "Test cases:" line: "4486 generated, 4486 passed" (", 3 failed" when any did)
SCHEMATHESIS_CASES = re.compile(r"^\s*\d+ generated, ((?:\d+ [a-z]+(?:, )?)+)\s*$")
COUNT = re.compile(r"(\d+) ([a-z]+)")


def tally(lines: list[str]) -> dict[str, int]:
    """Sums the passed, failed, errors and skipped counts of every summary in `lines`."""
    totals = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for line in lines:
        summary = PYTEST_SUMMARY.match(line) or SCHEMATHESIS_CASES.match(line)
        if summary is None:
            continue
        for number, word in COUNT.findall(summary.group(1)):
            key = "error" if word.startswith("error") else word
            if key in totals:
                totals[key] += int(number)
    return totals


def main(path: str) -> int:
    with open(path, encoding="utf-8", errors="replace") as log:
        totals = tally(log.read().splitlines())
    failed = totals["failed"] + totals["error"]
    print(f"ci: {totals['passed']} passed, {failed} failed, {totals['skipped']} skipped")
    return 0 if totals["passed"] and not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
