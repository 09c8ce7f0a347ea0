#!/usr/bin/env python3
"""Splits a call-graph profile of gtsim-sim into storage and everything else.

A sample counts as storage when any frame of its stack is in gtsim::Storage or SQLite; the rest
is the simulator's own CPU (workload, region and replication code, checkers, digest, malloc and
memcpy on their behalf). Prints both shares and the gtsim functions that hold the most
non-storage samples (inclusive). Used for docs/BENCHMARKS.md ("Simulator CPU"):

  perf record --call-graph dwarf,16384 -F 1000 -o sim.perf \\
      build/gtsim-sim --seed 1 --regions 3 --ops 100000 --keys 1000
  perf script -i sim.perf -F ip,sym | tools/perf_split.py [TOP]
"""
import collections
import re
import sys


def samples(lines):
    stack = []
    for line in lines:
        if not line.strip():
            if stack:
                yield stack
            stack = []
        elif line[0] in " \t":
            parts = line.strip().split(" ", 1)
            if len(parts) == 2:
                stack.append(parts[1])
    if stack:
        yield stack


def main():
    top = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    total = storage = 0
    inclusive = collections.Counter()
    for stack in samples(sys.stdin):
        total += 1
        if any("gtsim::Storage::" in f or "sqlite3" in f for f in stack):
            storage += 1
            continue
        # Each function once per sample; "(anonymous namespace)" is part of a name.
        names = {re.sub(r"\((?!anonymous).*", "", f)[:100]
                 for f in stack if f.startswith("gtsim::")}
        inclusive.update(names)
    if total == 0:
        sys.exit("no samples: pipe `perf script -F ip,sym` of a --call-graph profile into this")
    other = total - storage
    print(f"samples {total}; storage {storage} ({100 * storage / total:.1f} %); "
          f"everything else {other} ({100 * other / total:.1f} %)")
    print("non-storage samples under each gtsim function (inclusive), % of all samples:")
    for name, n in inclusive.most_common(top):
        print(f"{100 * n / total:6.2f} %  {name}")


if __name__ == "__main__":
    main()
