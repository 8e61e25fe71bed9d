"""Several stacks of one checkout (make up, make test, STACK_DIR=...) share LocalStack's venv: an
install waits for one already running instead of rewriting its files (two pip runs at once killed a
LocalStack started from them with SIGBUS)."""
from __future__ import annotations

import fcntl
import os
import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "local" / "localstack.sh"


def _pins() -> str:
    block = re.search(r"^PINS=\((.*?)^\)", SCRIPT.read_text(), re.S | re.M).group(1)
    return "".join(p + "\n" for p in re.findall(r'"([^"]+)"', block))


def _venv(tmp_path: Path) -> Path:
    """A venv the script finds up to date: its python and the marker of the current pins."""
    venv = tmp_path / "ls-venv"
    (venv / "bin").mkdir(parents=True)
    py = venv / "bin" / "python"
    py.write_text("#!/bin/sh\nexit 0\n")
    py.chmod(0o755)
    (venv / ".recon-pins").write_text(_pins())
    return venv


def _read_until(proc: subprocess.Popen, needle: str, seconds: float) -> str:
    """stderr of ``proc`` until ``needle`` shows (or the process ends / the deadline passes)."""
    os.set_blocking(proc.stderr.fileno(), False)
    seen, deadline = "", time.monotonic() + seconds
    while time.monotonic() < deadline and needle not in seen:
        chunk = proc.stderr.read()
        if chunk:
            seen += chunk.decode()
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.05)
    return seen


def test_an_install_waits_for_the_one_in_progress(tmp_path):
    venv = _venv(tmp_path)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LOCALSTACK_VENV": str(venv),
           "STACK_DIR": str(tmp_path / "stack")}
    with open(f"{venv}.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)           # another stack is installing
        proc = subprocess.Popen(["bash", str(SCRIPT), "install"], env=env, stderr=subprocess.PIPE)
        try:
            said = _read_until(proc, "waiting for it", 30)
            assert "another stack is installing" in said, said
            assert proc.poll() is None, "the install went on while another one held the venv"
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert "venv up to date" in err.decode()


def test_an_install_alone_does_not_wait_and_leaves_the_lock_free(tmp_path):
    venv = _venv(tmp_path)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LOCALSTACK_VENV": str(venv),
           "STACK_DIR": str(tmp_path / "stack")}
    proc = subprocess.run(["bash", str(SCRIPT), "install"], env=env, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "waiting" not in proc.stderr.decode() and "venv up to date" in proc.stderr.decode()
    with open(f"{venv}.lock", "w") as lock:      # nobody kept it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
