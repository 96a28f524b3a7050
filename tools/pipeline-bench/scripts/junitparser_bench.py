#!/usr/bin/env python3
"""What a junitparser user does to gate a build on a JUnit report.

Parse the file with ``JUnitXml.fromfile``, walk every suite and every case, and
count the outcomes. Prints one line of counts; exits 0, or 2 on bad usage.
"""

import sys

from junitparser import Error, Failure, JUnitXml, Skipped, TestSuite
from junitparser.junitparser import etree


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: junitparser_bench.py FILE", file=sys.stderr)
        return 2
    xml = JUnitXml.fromfile(argv[1])
    suites = [xml] if isinstance(xml, TestSuite) else xml
    n_suites = tests = failures = errors = skipped = passed = 0
    for suite in suites:
        n_suites += 1
        for case in suite:
            tests += 1
            results = case.result
            if any(isinstance(r, Failure) for r in results):
                failures += 1
            elif any(isinstance(r, Error) for r in results):
                errors += 1
            elif any(isinstance(r, Skipped) for r in results):
                skipped += 1
            else:
                passed += 1
    print(
        f"{argv[1]}: {n_suites} suites, {tests} tests, {passed} passed, "
        f"{failures} failures, {errors} errors, {skipped} skipped "
        f"(xml backend: {etree.__name__})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
