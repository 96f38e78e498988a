"""``lepton ui``: the MLflow UI over Lepton's tracking store, on 127.0.0.1.

Runs ``mlflow server`` (one worker, no job runner, no telemetry) over the embedded store
(``$LEPTON_HOME/mlflow``) or a given ``--tracking-uri`` database, waits until it answers,
and prints the URL of the runs table of the experiment of the latest search.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import warnings
from pathlib import Path

from .._servers import die_with_parent, free_port, stop, wait_until_answers
from .._warn import LeptonWarning
from ._base import TrackingError
from ._store import (
    artifact_root_for, check_tracking_uri, default_tracking_uri, mlflow_env, quiet_mlflow_env,
    redact_uri, resolve_tracking_uri,
)

__all__ = ["latest_search_experiment", "start_ui", "run_ui", "free_port"]

# `mlflow server` answered /health after 9-25 s on a busy 2-core machine.
STARTUP_TIMEOUT = 90.0


def _loopback(host: str) -> bool:
    """Whether ``host`` is this machine alone: localhost, 127.0.0.0/8, ::1."""
    import ipaddress

    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a name: it may resolve to any interface
        return False


#: addresses that serve on every interface
_ANY = ("0.0.0.0", "::", "[::]")


def _allowed_hosts(host: str, port: int) -> list[str]:
    """The Host headers the UI answers: MLflow's defaults (this machine's loopback names,
    private addresses) and, served beyond this machine, the address given and the
    machine's names and addresses."""
    from mlflow.server.security_utils import get_default_allowed_hosts

    hosts = list(get_default_allowed_hosts())
    if not _loopback(host):
        names = {socket.gethostname(), socket.getfqdn()} | ({host} - set(_ANY))
        with contextlib.suppress(OSError):
            names |= set(socket.gethostbyname_ex(socket.gethostname())[2])
        hosts += [f"{name}{suffix}" for name in sorted(names) for suffix in ("", f":{port}")]
    return hosts


def latest_search_experiment(tracking_uri: str) -> str | None:
    """Experiment id of the most recently started Lepton search in the store, if any."""
    with mlflow_env():
        return _latest_search_experiment(tracking_uri)


def _latest_search_experiment(tracking_uri: str) -> str | None:
    from ._mlflow import TAG_ROLE, _muted_loggers
    from ._store import open_client

    # a new store's table creation lines (INFO), before the URL (review helper-77)
    with _muted_loggers("mlflow.store.db.utils", "alembic"):
        client = open_client(tracking_uri)  # locked, and mended where a full disk cut it
        experiments = client.search_experiments(max_results=1000)
    if not experiments:
        return None
    runs = client.search_runs([e.experiment_id for e in experiments],
                              filter_string=f"tags.`{TAG_ROLE}` = 'search'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.experiment_id if runs else None


def start_ui(*, tracking_uri: str | None = None, host: str = "127.0.0.1", port: int | None = None,
             timeout: float = STARTUP_TIMEOUT, quiet: bool = False) -> tuple[subprocess.Popen, str]:
    """Start the UI server; return ``(process, url)`` once it answers. The URL opens the
    runs table of the latest search's experiment (the experiment list if none)."""
    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith(("http://", "https://")):
        raise TrackingError(f"tracking_uri={redact_uri(uri)!r} is already a tracking server: "
                            f"open {uri} in a browser.")
    check_tracking_uri(uri)
    if not _loopback(host):  # review helper-75: 0.0.0.0 was taken without a word
        warnings.warn(
            f"host={host!r} serves the MLflow UI beyond this machine, and it has no sign-in: "
            "whoever reaches it can read and change every run and registered model (and "
            "`lepton run --register` loads the registered champion to compare with). Serve "
            "it on 127.0.0.1 and reach it through an SSH tunnel (ssh -L), or use a team "
            "server behind authentication (mlflow/README.md).", LeptonWarning, stacklevel=2)
    experiment_id = latest_search_experiment(uri)
    port = port or free_port(host)
    # uvicorn at warning level: its INFO line per request (every page the browser loads)
    # filled the terminal
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
           "--registry-store-uri", uri,  # said, not defaulted: no line saying it defaulted
           "--host", host, "--port", str(port), "--workers", "1",
           "--uvicorn-opts", "--log-level warning"]
    if not os.environ.get("MLFLOW_SERVER_ALLOWED_HOSTS"):  # the user's own list wins
        # said, not defaulted: MLflow's line on its defaults advised options `lepton ui`
        # does not have; beyond this machine, its defaults refused the machine's own name
        # ('403 Invalid Host header': review helper-77)
        cmd += ["--allowed-hosts", ",".join(_allowed_hosts(host, port))]
    root = artifact_root_for(uri)
    if root is not None:  # for experiments created by other tools (Lepton's set their own)
        root.mkdir(parents=True, exist_ok=True)
        cmd += ["--default-artifact-root", Path(root).resolve().as_uri()]
    # a new store's 'Creating initial MLflow database tables...' lines: INFO
    env = {**os.environ, **quiet_mlflow_env(), "MLFLOW_LOGGING_LEVEL": "WARNING"}
    # MLflow's own dependency warning (StarletteDeprecationWarning, with its source line)
    # is nothing a user of the UI can act on
    env.setdefault("PYTHONWARNINGS", "ignore:starlette.middleware.wsgi is deprecated")
    out = subprocess.DEVNULL if quiet else None
    # its own session: the terminal's Ctrl-C reaches `lepton ui` only, which stops the
    # server with SIGTERM (SIGINT made uvicorn print a 39-line traceback)
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, preexec_fn=die_with_parent(),
                            start_new_session=True)
    probe = "127.0.0.1" if host in _ANY else host
    wait_until_answers(proc, f"http://{probe}:{port}/health", timeout=timeout,
                       what="mlflow server", error=TrackingError)
    # 0.0.0.0 is no address to open: the machine's name is
    base = f"http://{socket.gethostname() if host in _ANY else host}:{port}"
    url = f"{base}/#/experiments/{experiment_id}/runs" if experiment_id else base
    return proc, url


def run_ui(*, tracking_uri: str | None = None, host: str = "127.0.0.1",
           port: int | None = None) -> int:
    """Start the UI, print its URL, and serve until interrupted (Ctrl-C or SIGTERM)."""
    def _interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)  # stop the server too, not only this process
    proc, url = start_ui(tracking_uri=tracking_uri, host=host, port=port)
    print(f"MLflow UI for {redact_uri(tracking_uri or os.environ.get('MLFLOW_TRACKING_URI') or default_tracking_uri())}")
    print(url, flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        stop(proc, timeout=10)
        return 0
