#!/usr/bin/env python3
"""Checks that no function in core/ is longer than 70 lines.

A function is counted from the first line of its signature (at column 0) to its
closing brace (at column 0), as this code base formats them. Declarative tables
are exempt (listed in TABLES); LEGACY lists the functions still over the limit,
which may only shrink: a listed function that is no longer over the limit, or is
gone, fails the check too, so that it is taken off the list.

Prints one line per problem and ends with "N passed, M failed" (N functions checked).
"""
import glob
import os
import sys

LIMIT = 70
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Declarative tables: one entry per field or kind, nothing to split.
TABLES = {
    ("core/model/codec.cpp", "template <typename V, typename E>"),
}
# Store functions that the one SQL store core is to replace (SQLite and PostgreSQL
# write them twice today).
LEGACY = set()


def functions(path):
    """Yields (first signature line, length in lines) for each top-level function body."""
    lines = open(path, encoding="utf-8").read().split("\n")
    start = None
    for i, line in enumerate(lines):
        top = line and not line[0].isspace() and not line.startswith(("//", "#"))
        if top and "{" in line and line.rstrip().endswith("}"):
            start = None  # a one-line definition
            continue
        if line.startswith("}"):
            if start is not None:
                head = lines[start]
                is_type = head.startswith(("namespace", "struct", "class", "enum", "union", "extern"))
                if not is_type and "(" in head + lines[start + 1]:
                    yield head, i - start + 1
            start = None
        elif top and (start is None or lines[i - 1].rstrip().endswith(";")):
            start = i


def main():
    checked = 0
    problems = []
    over = set()
    for path in sorted(glob.glob(os.path.join(ROOT, "core", "**", "*.[ch]pp"), recursive=True)):
        rel = os.path.relpath(path, ROOT)
        for head, length in functions(path):
            checked += 1
            key = next((k for k in TABLES | LEGACY if k[0] == rel and head.startswith(k[1])), None)
            if length <= LIMIT:
                continue
            if key in TABLES:
                continue
            if key in LEGACY:
                over.add(key)
                continue
            problems.append(f"{rel}: {head.strip()} is {length} lines, over the limit of {LIMIT}")
    for key in sorted(LEGACY - over):
        problems.append(f"{key[0]}: {key[1]} is no longer over the limit (or gone): take it off LEGACY")
    for problem in problems:
        print(problem)
    print(f"{checked - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
