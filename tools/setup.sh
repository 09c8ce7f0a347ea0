# Shared by demo.sh, test.sh and bench scripts: install missing Debian packages, then configure
# and build into build/ with Ninja. Source it; it defines `gtsim_setup [ninja targets...]`.

GTSIM_PACKAGES=(build-essential cmake ninja-build ccache pkg-config python3
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libsqlite3-dev libfmt-dev nlohmann-json3-dev catch2
  libcpp-httplib-dev python3-boto3 python3-pytest awscli libyaml-cpp-dev git clang-format)

# gtsim ui's browser test drives Debian's chromium headless (tests/browser/).
GTSIM_PACKAGES+=(chromium)

gtsim_install_packages() {
  local missing=()
  for p in "${GTSIM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # node and npm: for gtsim ui's chart library and its browser test (web/package.json). Any
  # node 18+ will do (NodeSource's nodejs bundles npm; Debian splits them).
  command -v npm >/dev/null || missing+=(nodejs npm)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing Debian packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "error: run as root (or install sudo) to install: ${missing[*]}" >&2; return 1; }
    sudo=sudo
  fi
  $sudo apt-get update -qq || return 1
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" || return 1
}

gtsim_setup() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  gtsim_install_packages || return 1
  # uPlot (embedded in gtsim) and playwright-core (the browser test), as web/package-lock.json
  # pins them.
  if [ ! -d "$root/web/node_modules/uplot" ] || [ ! -d "$root/web/node_modules/playwright-core" ]; then
    echo "==> npm ci in web/ (uPlot, playwright-core)"
    (cd "$root/web" && npm ci --no-audit --no-fund --loglevel=error) || return 1
  fi
  if [ ! -f "$root/build/build.ninja" ]; then
    echo "==> configuring build/ (Ninja, RelWithDebInfo)"
    cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || return 1
  fi
  echo "==> building ${*:-everything} (2 cores: a first build takes a few minutes)"
  cmake --build "$root/build" -j "$(nproc)" ${1:+--target "$@"} || return 1
}
