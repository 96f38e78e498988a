"""Servers Lepton starts as child processes (the MLflow UI, a Prefect server): a free
port on 127.0.0.1 and the wait until the server answers."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request

__all__ = ["free_port", "wait_until_answers"]


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
