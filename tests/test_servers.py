"""Servers Lepton starts on 127.0.0.1, behind an HTTP proxy setting (lepton._servers)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lepton._servers import free_port, loopback_without_proxy, stop, wait_until_answers

_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
            "all_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture
def dead_proxy(monkeypatch):
    """A corporate-style setting: every request to a proxy that does not answer, no
    NO_PROXY."""
    for name in _PROXIES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("http_proxy", os.environ["HTTP_PROXY"])


def test_a_local_server_answers_behind_a_proxy_setting(dead_proxy):
    """urllib sent the health checks for 127.0.0.1 to the proxy: `lepton ui` and `lepton
    schedule` gave up after 90-120 s; a flow's Prefect client likewise."""
    import urllib.request

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_answers(proc, f"http://127.0.0.1:{port}/", timeout=30, what="http.server")
        # and for the rest of the process, and the processes it starts (Prefect, MLflow)
        assert os.environ["NO_PROXY"].split(",") == ["127.0.0.1", "localhost", "::1"]
        with urllib.request.urlopen(f"http://localhost:{port}/", timeout=5) as resp:
            assert resp.status == 200
    finally:
        stop(proc)


def test_no_proxy_is_only_extended_and_only_where_a_proxy_is_set(monkeypatch):
    for name in _PROXIES:
        monkeypatch.delenv(name, raising=False)
    loopback_without_proxy()
    assert "NO_PROXY" not in os.environ and "no_proxy" not in os.environ
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example, localhost")
    loopback_without_proxy()
    # one list under both names: clients read no_proxy first, and a loopback-only
    # no_proxy beside the user's NO_PROXY sent internal.example through the proxy
    assert os.environ["NO_PROXY"] == os.environ["no_proxy"] == (
        "internal.example,localhost,127.0.0.1,::1")
    import urllib.request

    assert urllib.request.proxy_bypass_environment("internal.example")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "*")  # every host already
    loopback_without_proxy()
    assert os.environ["NO_PROXY"] == os.environ["no_proxy"] == "*"


def test_a_tracker_of_a_store_that_is_no_local_server_leaves_no_proxy_as_it_was(
        monkeypatch, tmp_path):
    """A tracked fit to a SQLite store, behind a proxy, rewrote the user's NO_PROXY for
    the rest of their process (review helper-83): only a server on this machine needs it."""
    pytest.importorskip("mlflow")
    from lepton.tracking import MLflowTracker

    for name in _PROXIES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", ".corp.example")
    MLflowTracker(tracking_uri=f"sqlite:///{tmp_path / 'm.db'}", experiment_name="p")
    assert os.environ["NO_PROXY"] == ".corp.example" and "no_proxy" not in os.environ
