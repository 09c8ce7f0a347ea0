#!/usr/bin/env bash
# The gtsim benchmark suite (issue 6): builds a Release build into build-release/ (Debian
# packages as tools/setup.sh lists them), runs build-release/gtsim-bench and prints its table:
# each benchmark's measured value, its target, and the ratio to this machine's ceilings measured
# in the same run. See docs/BENCHMARKS.md.
#
#   tools/bench.sh                  # every benchmark, full size (a few minutes after the build)
#   tools/bench.sh --quick          # about a minute: the smoke run the test suite uses
#   tools/bench.sh --only=lag,delay # a subset (see build-release/gtsim-bench --help)
#   tools/bench.sh --bin-dir build --quick   # use an existing build's binaries, no build
#
# Exit code: 0 when every benchmark ran (a target not reached shows as MISS in the table),
# 1 when one could not be carried out, 2 when the build failed.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin_dir=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --bin-dir=*) bin_dir="${1#--bin-dir=}"; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done

if [ -z "$bin_dir" ]; then
  # shellcheck source=tools/setup.sh
  source "$root/tools/setup.sh"
  gtsim_install_packages || exit 2
  bin_dir="$root/build-release"
  log="$bin_dir/bench-build.log"
  mkdir -p "$bin_dir"
  echo "==> building Release binaries into build-release/ (log: build-release/bench-build.log)"
  if ! { [ -f "$bin_dir/build.ninja" ] ||
         cmake -S "$root" -B "$bin_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release; } >"$log" 2>&1 ||
     ! cmake --build "$bin_dir" -j "$(nproc)" --target gtsim gtsim-region gtsim-bench >>"$log" 2>&1; then
    echo "error: the Release build did not succeed; the end of build-release/bench-build.log:" >&2
    tail -20 "$log" >&2
    exit 2
  fi
fi
for b in gtsim gtsim-region gtsim-bench; do
  [ -x "$bin_dir/$b" ] || { echo "error: $bin_dir/$b is missing (build it first)" >&2; exit 2; }
done
echo "==> $(uname -srm); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "==> load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min); other processes share these cores"
exec "$bin_dir/gtsim-bench" "${args[@]+"${args[@]}"}"
