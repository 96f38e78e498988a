"""Servers Lepton starts as child processes (the MLflow UI, a Prefect server): a free
port on 127.0.0.1 and the wait until the server answers."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request

__all__ = ["free_port", "wait_until_answers", "die_with_parent", "stop"]


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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise error(f"{what} exited with code {proc.returncode} before answering at "
                        f"{url}; run it by hand to see why.")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
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
