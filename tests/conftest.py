"""Shared test set-up: CPU only, small thread count, figures into a temporary folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _figures_to_tmp(tmp_path_factory):
    """Never let the test-suite overwrite the committed figures/."""
    old = os.environ.get("MTLKIT_FIGURES")
    os.environ["MTLKIT_FIGURES"] = str(tmp_path_factory.mktemp("figures"))
    yield
    if old is None:
        os.environ.pop("MTLKIT_FIGURES", None)
    else:
        os.environ["MTLKIT_FIGURES"] = old


@pytest.fixture(autouse=True, scope="session")
def _results_to_tmp(tmp_path_factory):
    """Reproduction results recorded by notebooks run in the tests never touch reproductions/results/."""
    old = os.environ.get("MTLKIT_RESULTS")
    os.environ["MTLKIT_RESULTS"] = str(tmp_path_factory.mktemp("results"))
    yield
    if old is None:
        os.environ.pop("MTLKIT_RESULTS", None)
    else:
        os.environ["MTLKIT_RESULTS"] = old


@pytest.fixture(autouse=True, scope="session")
def _run_cache_to_tmp(tmp_path_factory):
    """Cached training runs (mtlkit.cache) go to one temporary folder shared by the whole session."""
    old = os.environ.get("MTLKIT_CACHE")
    os.environ["MTLKIT_CACHE"] = str(tmp_path_factory.mktemp("run_cache"))
    yield
    if old is None:
        os.environ.pop("MTLKIT_CACHE", None)
    else:
        os.environ["MTLKIT_CACHE"] = old


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
