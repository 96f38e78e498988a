"""Shared by the dev probes: one JSON line per result, printed and appended to a file;
a table as pandas reads it back from a CSV."""
import io
import json


def emit(row: dict, out=None) -> None:
    line = json.dumps(row)
    print(line, flush=True)
    if out:
        out.write(line + "\n")
        out.flush()


def read_back(frame, index: bool = False):
    """``frame`` written to a CSV (with its index: ``to_csv``'s default) and read back
    with pandas' defaults (as a user's file)."""
    import pandas as pd

    buffer = io.StringIO()
    frame.to_csv(buffer, index=index)
    buffer.seek(0)
    return pd.read_csv(buffer)
