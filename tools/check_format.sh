#!/usr/bin/env bash
# Fails when clang-format (with the repository's .clang-format) would change a line that the
# last commit added or changed in a C++ file - or, with a base given, every commit since it:
#   tools/check_format.sh [BASE]      (default HEAD~1; GTSIM_FORMAT_BASE overrides)
# Lines a commit did not touch are not judged (much of the tree predates the format file).
set -u
cd "$(dirname "$0")/.." || exit 2
base=${1:-${GTSIM_FORMAT_BASE:-HEAD~1}}
if ! git rev-parse --verify -q "$base^{commit}" >/dev/null; then
  echo "check_format: no commit $base to compare with (a shallow clone?): nothing to check"
  exit 0
fi
command -v git-clang-format >/dev/null || { echo "check_format: git-clang-format missing (apt-get install clang-format)"; exit 2; }
out=$(git clang-format --diff --extensions h,cc "$base" HEAD -- 2>&1)
case "$out" in
  ""|*"no modified files to format"*|*"did not modify any files"*)
    echo "check_format: every C++ line changed since $base is clang-format clean"
    exit 0 ;;
esac
echo "$out"
echo "check_format: clang-format would change the lines above (changed since $base); run git clang-format"
exit 1
