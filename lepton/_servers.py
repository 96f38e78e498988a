"""Servers Lepton starts as child processes (the MLflow UI, a Prefect server): a free
port on 127.0.0.1 and the wait until the server answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

__all__ = ["free_port", "wait_until_answers", "die_with_parent", "stop",
           "loopback_without_proxy"]

#: How this machine names itself; requests to these never go through an HTTP proxy.
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                    "all_proxy")


def loopback_without_proxy() -> None:
    """Where an HTTP proxy is set (``HTTP_PROXY`` ...), add this machine's own names to
    ``NO_PROXY`` (and ``no_proxy``) for this process and the processes it starts. Behind
    a corporate proxy without ``NO_PROXY``, Python's and Prefect's HTTP clients sent the
    requests for the servers Lepton starts on 127.0.0.1 to the proxy, which cannot reach
    them: ``lepton ui`` and ``lepton schedule`` gave up after 90-120 s ("did not answer"),
    a flow after 28 s ("Timed out while attempting to connect to ephemeral Prefect API
    server"). Nothing is changed without a proxy."""
    if not any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return
    # one list, written under both names: HTTP clients read the lower-case name first, so
    # one written beside a user's upper-case list would have replaced it
    hosts: list[str] = []
    for name in ("no_proxy", "NO_PROXY"):
        hosts += [h.strip() for h in os.environ.get(name, "").split(",")
                  if h.strip() and h.strip() not in hosts]
    if "*" not in hosts:
        hosts += [h for h in LOOPBACK if h not in hosts]
    os.environ["no_proxy"] = os.environ["NO_PROXY"] = ",".join(hosts)


def die_with_parent():
    """A ``preexec_fn`` for a server child: on Linux the kernel sends it SIGTERM when the
    process that started it dies, SIGKILL included (``prctl(PR_SET_PDEATHSIG)``), so a
    killed ``lepton schedule`` or ``lepton ui`` leaves no server behind. None elsewhere.
    Start such children from the main thread: the signal follows the thread that forked."""
    if not sys.platform.startswith("linux"):
        return None

    def preexec() -> None:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return preexec


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until_answers(proc: subprocess.Popen, url: str, *, timeout: float, what: str,
                       error: type[Exception] = RuntimeError) -> None:
    """Poll ``url`` until it answers 200; raise ``error`` naming ``what`` if ``proc`` exits
    first or ``timeout`` seconds pass (the process is then terminated)."""
    loopback_without_proxy()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # a local server
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise error(f"{what} exited with code {proc.returncode} before answering at "
                        f"{url}; run it by hand to see why.")
        try:
            with opener.open(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise error(f"{what} did not answer at {url} within {timeout:.0f}s.")


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Terminate a server child; kill it if it has not exited after ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
