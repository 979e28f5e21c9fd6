"""`make lab`: starts for every user (root included), at the repository root, with make run's output folders."""
from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mtlkit.runner import output_env

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# run the Makefile's recipe on this environment: no install step (STAMP empty), this interpreter's bin folder
MAKE = ["make", "--no-print-directory", "-C", str(ROOT), "lab", "STAMP=", f"BIN={BIN}"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lab_recipe_uses_the_run_folders_and_the_repository_root():
    out = subprocess.run([*MAKE, "-n"], capture_output=True, text=True, check=True).stdout
    words = shlex.split(out.replace("\\\n", " "))
    env = dict(w.split("=", 1) for w in words if w.startswith("MTLKIT_"))
    assert env == {k: v for k, v in output_env(ROOT, "cpu", environ={}).items()}
    assert f"--ServerApp.root_dir={ROOT}" in words
    assert any(w.startswith("--ServerApp.default_url=/lab/tree/notebooks/00_") for w in words)
    assert ("--allow-root" in words) == (os.getuid() == 0)


@pytest.mark.timeout(120)
def test_make_lab_serves_lab_with_its_token(tmp_path):
    if not (BIN / "jupyter-lab").exists():
        pytest.skip(f"JupyterLab is not installed in {BIN}")
    port, token = _free_port(), "mtlkit-test-token"
    args = f"--no-browser --port={port} --ServerApp.port_retries=0 --IdentityProvider.token={token}"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen([*MAKE, f"LAB_ARGS={args}"], stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/lab?token={token}"
        deadline, page = time.time() + 90, None
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    page = (response.status, response.read().decode(errors="replace"))
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
        text = (tmp_path / "lab.log").read_text()
        assert page is not None, f"JupyterLab did not answer on port {port}; its log:\n{text[-3000:]}"
        assert page[0] == 200 and "JupyterLab" in page[1]
        assert "Running as root is not" not in text
        with pytest.raises(urllib.error.HTTPError):  # the token is required
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/notebooks", timeout=5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/notebooks?token={token}") as r:
            assert b"00_quickstart.ipynb" in r.read()  # served from the repository root
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
