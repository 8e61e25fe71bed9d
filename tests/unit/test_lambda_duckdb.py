"""The engine's tests against the DuckDB of the Lambda package (infra/lambda-duckdb.txt).

The local stack runs requirements.txt's DuckDB; the functions deployed by infra/package.sh run an older
one, the newest whose wheels load on Lambda's python3.11 runtime. This runs the matching engine's tests
and the exception loading's DuckDB statements with that version first on the path, installed from the
package registry into .local/ once (kept between runs)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.search(r"^duckdb==(\S+)", (ROOT / "infra" / "lambda-duckdb.txt").read_text(), re.M).group(1)
TARGET = ROOT / ".local" / f"lambda-duckdb-{PIN}"
SUITES = ["tests/unit/matching", "tests/unit/streams/test_run_exceptions.py"]


def _installed() -> Path:
    if not (TARGET / "duckdb" / "__init__.py").is_file():
        tmp = TARGET.with_name(TARGET.name + f".part{os.getpid()}")
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--only-binary=:all:",
                               "--target", str(tmp), f"duckdb=={PIN}"], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"pip could not install duckdb=={PIN}:\n{proc.stdout}{proc.stderr}"
        try:
            os.replace(tmp, TARGET)
        except OSError:   # another run installed it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    return TARGET


def test_the_engine_suite_passes_on_the_lambda_packages_duckdb():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(_installed()), str(ROOT)]))
    version = subprocess.run([sys.executable, "-c", "import duckdb; print(duckdb.__version__)"], env=env,
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert version.stdout.strip() == PIN, version.stdout + version.stderr
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *SUITES], env=env,
                          capture_output=True, text=True, timeout=1500, cwd=ROOT)
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
    assert proc.returncode == 0, f"with duckdb {PIN}:\n{tail}"
    assert re.search(r"\b\d+ passed\b", proc.stdout), tail
