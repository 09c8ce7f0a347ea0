#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit, simulation and
# multi-process integration tests through CTest). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/setup.sh
gtsim_setup
echo "==> running the test suite"
cd build
ctest --output-on-failure -j 2 --timeout 600 "$@"
