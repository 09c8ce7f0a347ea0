#!/usr/bin/env python3
"""Fails when a source file includes a folder against the layout's one direction.

The folders form layers (README.md, "Layout"); a file may include its own folder and folders of
lower layers only:
  model (shared types) < storage < engine < replicator < region
  < region/grpc, region/http, sim/harness, sim/launcher < replicator/grpc < sim/scenario < tools
tests/ may include anything. Usage: tools/check_layout.py [ROOT]; exit 1 listing each include
against the direction (file:line, the include, both layers)."""
import os
import re
import sys

LAYERS = {
    "model": 0,
    "storage": 1,
    "engine": 2,
    "replicator": 3,
    "region": 4,
    "region/grpc": 5,
    "region/http": 5,
    "sim/harness": 5,
    "sim/launcher": 5,
    "replicator/grpc": 6,
    "sim/scenario": 7,
    "tools": 8,
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    root = os.path.abspath(root)
    bad, unknown, checked = [], set(), 0
    for folder in LAYERS:
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            unknown.add(f"{folder} (missing)")
            continue
        for name in sorted(os.listdir(path)):
            if not name.endswith((".h", ".cc")):
                continue
            checked += 1
            with open(os.path.join(path, name), errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m or not os.path.exists(os.path.join(root, m.group(1))):
                        continue  # generated (proto/) or a system header
                    target = os.path.dirname(m.group(1))
                    if target == folder or target == "proto/gtsim":
                        continue
                    if target not in LAYERS:
                        unknown.add(f"{folder}/{name}:{lineno} includes {m.group(1)}")
                    elif LAYERS[target] >= LAYERS[folder]:
                        bad.append(f"{folder}/{name}:{lineno}: #include \"{m.group(1)}\" goes "
                                   f"against the layers ({folder} is layer {LAYERS[folder]}, "
                                   f"{target} layer {LAYERS[target]})")
    for line in bad:
        print(line)
    for line in sorted(unknown):
        print(f"not in any layer: {line}")
    if bad or unknown:
        print(f"{len(bad)} includes against the layout's direction "
              "(see tools/check_layout.py and README.md, Layout)")
        return 1
    print(f"layout: {checked} files, every include follows the layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
