"""A local Prefect server for ``lepton schedule`` when no Prefect API is configured.

Prefect's temporary in-process server runs flows but not schedules ("Cannot schedule
flows on an ephemeral server"), so a schedule needs a real server: ``prefect_api()``
uses the one ``PREFECT_API_URL`` (or the active Prefect profile) names, or else starts
``prefect server start`` on 127.0.0.1 with analytics off and stops it on exit. Its
database stays under ``PREFECT_HOME`` (default ``~/.prefect``), so the runs' history
outlives it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

from lepton._servers import die_with_parent, free_port, stop, wait_until_answers

from .flows import quiet_prefect_env

__all__ = ["configured_api_url", "start_server", "prefect_api", "PrefectServerError",
           "STARTUP_TIMEOUT"]

#: `prefect server start` answered /api/health after 5-9 s on an idle 2-core machine.
STARTUP_TIMEOUT = 120.0


class PrefectServerError(RuntimeError):
    """The Prefect server Lepton started exited or did not answer."""


def configured_api_url() -> str | None:
    """The Prefect API this process would talk to (environment or active profile)."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def _check_answers(url: str) -> None:
    """A configured Prefect API that does not answer is an error naming it, before anything
    is announced or served: `lepton schedule` printed 'serving deployment ...', then a
    104-line httpx traceback (review helper-51)."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
    if problem is not None:
        raise PrefectServerError(
            f"the Prefect API at {url} (PREFECT_API_URL, or the active Prefect profile) does "
            f"not answer ({type(problem).__name__}: {problem}); start that server, or unset "
            "PREFECT_API_URL and lepton schedule starts one of its own")


def start_server(*, host: str = "127.0.0.1", port: int | None = None,
                 timeout: float = STARTUP_TIMEOUT,
                 quiet: bool = True) -> tuple[subprocess.Popen, str]:
    """Start ``prefect server start``; return ``(process, api_url)`` once it answers.

    Its API answers cross-origin requests from its own address only: Prefect's default,
    any origin, let a web page the user opened read the deployments (their parameters)
    and start runs with parameters of its choosing (security review helper-75)."""
    port = port or free_port(host)
    env = {**os.environ, **quiet_prefect_env()}
    env.pop("PREFECT_API_URL", None)  # the server itself is not a client of another one
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address, as a URL writes it
    origins = {f"http://{shown}:{port}"}
    if host in ("127.0.0.1", "::1"):  # the UI opened as localhost too (review helper-76)
        origins.add(f"http://localhost:{port}")
    env["PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS"] = ",".join(sorted(origins))
    # the UI it serves calls this server's API (Prefect's default named port 4200)
    env["PREFECT_SERVER_UI_API_URL"] = f"http://{shown}:{port}/api"
    out = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", host,
                             "--port", str(port), "--analytics-off"],
                            env=env, stdout=out, stderr=out, preexec_fn=die_with_parent())
    api = f"http://{shown}:{port}/api"
    wait_until_answers(proc, f"{api}/health", timeout=timeout, what="prefect server",
                       error=PrefectServerError)
    return proc, api


@contextlib.contextmanager
def prefect_api(*, host: str = "127.0.0.1",
                port: int | None = None) -> Iterator[tuple[str, bool]]:
    """``(url, started)``: the configured Prefect API's URL (``started`` False), or that of
    a server started here and stopped when the block ends (True). Inside the block this
    process and its children use it."""
    url = configured_api_url()
    if url:
        _check_answers(url)
        yield url, False
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    proc, url = start_server(host=host, port=port)
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url  # flow runs start in child processes
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url, True
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
        stop(proc)
