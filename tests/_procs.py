"""Child processes of a process, found in Linux's /proc (tests that kill or watch them)."""

from __future__ import annotations

from pathlib import Path


def children(parent: int, marker: bytes) -> list[int]:
    """Pids of ``parent``'s children whose command line contains ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # exited meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and marker in cmdline:
            pids.append(int(entry.name))
    return pids
