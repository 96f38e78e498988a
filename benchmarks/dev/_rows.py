"""Shared by the dev probes: one JSON line per result, printed and appended to a file."""
import json


def emit(row: dict, out=None) -> None:
    line = json.dumps(row)
    print(line, flush=True)
    if out:
        out.write(line + "\n")
        out.flush()
