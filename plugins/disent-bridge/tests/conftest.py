"""The bridge's tests run in their own environment (with the real disent): no network, a private
dataset cache, a clean gin config for every test; entry points stay on (the bridge is one)."""

from __future__ import annotations

import gin
import pytest


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("dataset_cache")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path_factory, _session_cache):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf_home")))
    monkeypatch.setenv("DISENTANGLE_BENCH_CACHE", str(_session_cache))
    monkeypatch.delenv("DISENTANGLE_BENCH_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("DISENTANGLE_BENCH_PLUGINS", raising=False)
    gin.clear_config()
    yield
    gin.clear_config()
