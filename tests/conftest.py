"""Shared test set-up: CPU only; figures, recorded results and cached runs go to temporary folders."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# Every test uses tiny tensors: one intra-op thread is as fast on a quiet machine and many times faster when other
# processes share the cores (measured: 15-30x on this 2-core machine under load). `make test` also sets
# OMP_NUM_THREADS=1, which covers the subprocesses (DDP workers, papermill kernels).
torch.set_num_threads(1)

# environment variable -> what it redirects (see mtlkit.viz, mtlkit.report, mtlkit.cache); notebooks executed by
# papermill inherit the variables, so no test run ever writes figures/, reproductions/results/ or a shared cache
_REDIRECTED = {
    "MTLKIT_FIGURES": "figures",
    "MTLKIT_RESULTS": "results",
    "MTLKIT_CACHE": "run_cache",
}


@pytest.fixture(autouse=True, scope="session")
def _outputs_to_tmp(tmp_path_factory):
    """Point every output location of mtlkit at a session-wide temporary folder, restoring the old values after."""
    old = {var: os.environ.get(var) for var in _REDIRECTED}
    for var, name in _REDIRECTED.items():
        os.environ[var] = str(tmp_path_factory.mktemp(name))
    yield
    for var, value in old.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
