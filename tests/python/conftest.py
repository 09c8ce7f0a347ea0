"""Shared by the endpoint suites: the `gtsim` helper and a 2-region cluster of real gtsim-region
processes, started with `gtsim up` in a temporary GTSIM_DIR (one per test module) and always
stopped with `gtsim down`."""
import os
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("GTSIM_BIN_DIR", os.path.join(ROOT, "build"))
GTSIM = os.path.join(BIN_DIR, "gtsim")
EAST, WEST = "us-east-1", "us-west-2"


def run_gtsim(env, *args, check=True):
    return subprocess.run([GTSIM, *args], env=env, check=check, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def cluster():
    tmp = tempfile.TemporaryDirectory(prefix="gtsim-endpoint-")
    env = dict(os.environ, GTSIM_DIR=os.path.join(tmp.name, "cluster"))
    try:
        up = run_gtsim(env, "up", "--regions", f"{EAST},{WEST}", check=False)
        assert up.returncode == 0, up.stderr
        assert "dynamodb http://127.0.0.1:" in up.stdout
        yield env
    finally:
        run_gtsim(env, "down", check=False)
        tmp.cleanup()
