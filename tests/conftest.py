"""Test isolation: no network, no stray plugins, a clean gin config for every test."""

from __future__ import annotations

import gin
import pytest


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory):
    """One dataset cache for the whole session: rendered grids are reused across tests, and
    nothing is written under the developer's home directory."""
    return tmp_path_factory.mktemp("dataset_cache")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path_factory, _session_cache):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf_home")))
    monkeypatch.setenv("DISENTANGLE_BENCH_CACHE", str(_session_cache))
    # Plugins installed in the developer's environment must not change what tests see.
    monkeypatch.setenv("DISENTANGLE_BENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("DISENTANGLE_BENCH_PLUGINS", raising=False)
    gin.clear_config()
    yield
    gin.clear_config()
