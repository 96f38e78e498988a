"""Built-in datasets (bundled with scikit-learn, no download) and file loading."""

from __future__ import annotations

import bz2
import codecs
import errno
import gzip
import lzma
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

__all__ = ["Dataset", "BUILTIN_DATASETS", "load_dataset", "read_table", "write_table",
           "table_format", "table_name"]


@dataclass
class Dataset:
    name: str
    X: pd.DataFrame | np.ndarray
    y: np.ndarray | pd.Series | pd.DataFrame  # a DataFrame: several target columns
    task: str                        # 'classification' | 'regression'
    input_shape: tuple[int, ...] | None = None
    #: what loading a file did that a run should say: how it was read (where not as a
    #: plain UTF-8 CSV), the rows left out for a missing target
    notes: list[str] = field(default_factory=list)
    #: a target of whole numbers written with leading zeros (``007``): its labels as
    #: written, its numbers, and the note that says the text was read (:meth:`set_task`)
    written_target: tuple[np.ndarray, np.ndarray, str] | None = field(default=None,
                                                                      repr=False)

    def set_task(self, task: str) -> None:
        """Learn ``task`` from this data. A target written with leading zeros
        (``written_target``) is its text for classification (predictions come back
        ``007``, not ``7``), with its note, and its numbers for regression."""
        self.task = task
        if self.written_target is None:
            return
        text, numbers, note = self.written_target
        classes = task == "classification"
        self.y = text if classes else numbers
        self.notes = [n for n in self.notes if n != note] + ([note] if classes else [])


def _digits() -> Dataset:
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return Dataset("digits", X, y, "classification", input_shape=(8, 8))


def _sk(loader: str, task: str):
    def load() -> Dataset:
        import sklearn.datasets as skd
        X, y = getattr(skd, loader)(return_X_y=True, as_frame=True)
        return Dataset(loader.removeprefix("load_"), X, y.to_numpy(), task)
    return load


def _california_synthetic() -> Dataset:
    """A California-housing-like regression table generated offline: 8 skewed numeric
    features with interactions and heteroscedastic noise (20,640 rows like the original)."""
    rng = np.random.default_rng(0)
    n = 20640
    income = rng.lognormal(1.2, 0.45, n)
    age = rng.integers(1, 53, n).astype(float)
    rooms = rng.lognormal(1.6, 0.25, n)
    bedrooms = rooms * rng.uniform(0.15, 0.25, n)
    population = rng.lognormal(7.0, 0.7, n)
    occupancy = rng.lognormal(1.05, 0.3, n)
    lat = rng.uniform(32.5, 42.0, n)
    lon = -124.3 + (42.0 - lat) * 0.9 + rng.normal(0, 0.8, n)
    coast = np.exp(-np.abs(lon + 122.0 - (lat - 37.5) * 0.6))
    y = (0.45 * income + 0.6 * coast + 0.004 * age - 0.08 * occupancy
         + 0.05 * np.sin(lat * 2) * income + rng.normal(0, 0.25 + 0.05 * income, n))
    X = pd.DataFrame({"MedInc": income, "HouseAge": age, "AveRooms": rooms,
                      "AveBedrms": bedrooms, "Population": population, "AveOccup": occupancy,
                      "Latitude": lat, "Longitude": lon})
    return Dataset("california_synthetic", X, np.clip(y, 0.15, 5.0), "regression")


BUILTIN_DATASETS = {
    "digits": _digits,
    "iris": _sk("load_iris", "classification"),
    "wine": _sk("load_wine", "classification"),
    "breast_cancer": _sk("load_breast_cancer", "classification"),
    "diabetes": _sk("load_diabetes", "regression"),
    "california_synthetic": _california_synthetic,
}


_PARQUET, _TEXT = (".parquet", ".pq"), (".csv", ".txt", ".tsv")
#: Excel workbooks (read with openpyxl: the first sheet); the old binary .xls is not read
_EXCEL = (".xlsx", ".xlsm")
#: compressed text tables (data.csv.gz, Kaggle's train.csv.zip): the suffix after the
#: table's own; pandas reads and writes them, the standard library opens them to sniff
_COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
_ACCEPTED = (".csv, .tsv, .txt (each also compressed: .csv.gz, .csv.bz2, .csv.xz, "
             ".csv.zip), .parquet, .pq or .xlsx")


def table_name(path: str | Path) -> str:
    """The file's name without its suffixes: 'sales' for sales.csv and sales.csv.gz."""
    path = Path(path)
    return path.stem if path.suffix.lower() not in _COMPRESSED else Path(path.stem).stem


def table_format(path: str | Path, *, what: str) -> str:
    """'parquet', 'excel', 'tsv' or 'csv' from the file's suffix (a text table's may be
    followed by a compression's: .gz, .bz2, .xz, .zip); a ValueError naming ``what``
    else."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _PARQUET:
        return "parquet"
    if suffix in _EXCEL:
        return "excel"
    if suffix == ".xls":
        raise ValueError(f"{what} {str(path)!r} is an Excel 97-2003 workbook (.xls), which "
                         "Lepton does not read: save it as .xlsx (Excel: File > Save As) or "
                         "as CSV.")
    if suffix in _COMPRESSED:
        suffix = Path(path.stem).suffix.lower()
        if suffix in _PARQUET:
            raise ValueError(f"{what} {str(path)!r}: a Parquet file is compressed inside; "
                             f"give it uncompressed ({Path(path.stem).name}).")
    if suffix in _TEXT:
        return "tsv" if suffix == ".tsv" else "csv"
    raise ValueError(f"{what} {str(path)!r} must end in {_ACCEPTED}.")


#: where a text file is not UTF-8: Windows' Western European code page (Excel's exports in
#: Europe and the Americas), then Latin-1, which decodes any bytes
_ENCODINGS = ("utf-8", "cp1252", "latin-1")
#: a file that begins with a byte-order mark is in its encoding: UTF-16 is Excel's "Unicode
#: Text" (tab-separated), which read as Windows-1252 gave a NUL byte after every character
#: ('l\x00a\x00b\x00e\x00l'). UTF-32's little-endian mark begins with UTF-16's, so it
#: is looked for first; UTF-8's is read past by read_csv itself.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_SEPARATORS = (",", ";", "\t", "|")


def _read_parquet(path, columns) -> pd.DataFrame:
    """A Parquet file as pandas; one whose pandas metadata names a dtype pandas cannot read
    back (a frame of an Arrow dictionary column written by pandas: "data type
    'dictionary<values=string, indices=int32, ordered=0>[pyarrow]' not understood", review
    helper-78) is read without that dtype: the dictionary as a category."""
    try:
        return pd.read_parquet(path, columns=columns)
    except TypeError:
        import pyarrow.parquet as pq

        from .preprocessing import _arrow_to_pandas

        return _arrow_to_pandas(pq.read_table(path, columns=columns))


def read_table(path: str | Path, *, what: str = "dataset file",
               as_written: Sequence[str] | None = None) -> pd.DataFrame:
    """A CSV, TSV, Parquet or Excel (.xlsx: its first sheet) file as a DataFrame (the
    format from the file's suffix).

    A .csv or .txt file's separator is read off its first lines (``,``, ``;``, tab or
    ``|``: Excel writes ``;`` where the comma is the decimal sign, and then the decimal
    comma is read too, with points grouping thousands, when the numbers are written so);
    a file that is not UTF-8 is read as Windows-1252, else Latin-1. What was not the
    default is said in ``frame.attrs['lepton.read']`` (``lepton run`` prints it); a CSV's
    separator, decimal sign and encoding are in ``frame.attrs['lepton.dialect']`` (for
    ``write_table``'s ``dialect``).

    ``as_written``: read only these columns, a text file's as the text in its cells
    (``00123`` stays ``00123``, ``1.50`` stays ``1.50``, an empty cell is empty), for output
    that gives the input's values back as they were (``lepton predict --keep``); Parquet
    cells are typed, and read as usual; Excel cells as the workbook types them (a text
    cell ``00123`` stays text, which pandas makes the number 123; see ``_read_excel``)."""
    fmt = table_format(path, what=what)
    if not Path(path).exists():
        raise ValueError(f"{what} {str(path)!r} does not exist.")
    try:
        if fmt == "parquet":
            return _read_parquet(path, as_written)
        if fmt == "excel":
            return _read_excel(path, as_written=as_written)
        sep = "\t" if fmt == "tsv" else None
        text = {} if as_written is None else {
            "usecols": list(as_written), "converters": {c: str for c in as_written}}
        with _open_binary(path) as f:
            start = f.read(4)
        encodings = [name for bom, name in _BOMS if start.startswith(bom)][:1] or _ENCODINGS
        for encoding in encodings:
            try:
                sample = _head_text(path, encoding)
                options = ({"sep": sep, "decimal": "."} if sep is not None
                           else _csv_dialect(sample))
                thousands = options.pop("thousands", None)
                # index_col=False: the first column is a column, where rows end with a
                # separator (else pandas makes it the index, see _rows_end_with_separator)
                ends = _rows_end_with_separator(sample, options["sep"])
                with warnings.catch_warnings():
                    # a last field of spaces only: "Length of header or names does not
                    # match length of data. This leads to a loss of data" (of the spaces)
                    if ends:
                        warnings.simplefilter("ignore", pd.errors.ParserWarning)
                    # low_memory=False: each column typed on all its rows, not per chunk
                    # of 262,144 (a column of numbers with a word after the first chunk
                    # came back as ints and strings, and pandas' DtypeWarning told the user
                    # to pass read_csv arguments they never wrote)
                    frame = pd.read_csv(path, encoding=encoding, **options, **text,
                                        index_col=False if ends else None, low_memory=False)
                break
            except UnicodeDecodeError:
                if encoding == encodings[-1]:
                    raise
        if thousands is not None and as_written is None:
            _grouped_numbers(frame, thousands)
        if sep is None:  # a .csv or .txt file, read as found
            frame.attrs["lepton.dialect"] = {"sep": options["sep"],
                                             "decimal": options["decimal"],
                                             "encoding": encoding}
        said = ([f"{_SEPARATOR_NAMES[options['sep']]}-separated"]
                if options["sep"] not in (",", sep) else [])
        said += ["decimal commas"] if options["decimal"] == "," else []
        said += [f"encoding {encoding}"] if encoding != "utf-8" else []
        if said:
            frame.attrs["lepton.read"] = f"read {Path(path).name} as {', '.join(said)}"
        return frame
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            OSError, ValueError,  # pyarrow's errors are OSError / ValueError
            zipfile.BadZipFile, lzma.LZMAError, zlib.error) as exc:  # gzip's, bz2's: OSError
        raise ValueError(f"{what} {str(path)!r} cannot be read as "
                         f"{'Excel' if fmt == 'excel' else fmt.upper()}: "
                         f"{type(exc).__name__}: {exc}") from exc


_SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def _read_excel(path: str | Path, *, as_written: Sequence[str] | None = None) -> pd.DataFrame:
    """A workbook's first sheet; where it has others, ``frame.attrs['lepton.read']`` says
    which was read (``lepton run`` prints it). ``as_written``: only these columns, each
    cell as the workbook types it (``_cells_as_typed``)."""
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except zipfile.BadZipFile as exc:  # an .xlsx is a zip archive
        raise ValueError(f"not an Excel workbook ({exc})") from None
    said = []
    with book:
        sheets = book.sheet_names
        # where the header is, from the first rows only: the sheet is then parsed once
        header = _header_below_title(pd.read_excel(book, sheets[0], nrows=_TITLE_ROWS))
        # dtype=object: pandas leaves the cells' own values, where it otherwise makes
        # numbers of text cells that hold digits (an identifier '00001' came back 1)
        frame = pd.read_excel(book, sheets[0], header=header or 0,
                              **({} if as_written is None else {"dtype": object}))
        if header is not None:  # a title above the table, as reports have
            said.append(f"its header from row {header + 1} (a title above it)")
    if len(sheets) > 1:
        others = ", ".join(repr(name) for name in sheets[1:4]) + (" ..." if len(sheets) > 4
                                                                  else "")
        said.insert(0, f"sheet {sheets[0]!r}, the first of {len(sheets)} (not {others})")
    if as_written is not None:
        frame = _cells_as_typed(frame[list(as_written)])
    if said:
        frame.attrs["lepton.read"] = f"read {Path(path).name}: {'; '.join(said)}"
    return frame


def _cells_as_typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns of a sheet's cells (read with ``dtype=object``) typed as their cells are:
    numbers, dates or text (a text cell '00001' stays '00001'). A column of text and other
    cells is all text (an identifier typed 00123 as text in some rows, 456 as a number in
    others: '456'), as one column of a Parquet file must be one type."""
    frame = frame.copy()
    for column in frame.columns:
        present = frame[column].dropna()
        text = present.map(lambda v: isinstance(v, str))
        if text.any() and not text.all():
            frame.loc[present.index[~text], column] = present[~text].map(str)
    return frame.infer_objects()


#: rows under a sheet's first one in which a table's header is looked for
_TITLE_ROWS = 10


def _header_below_title(head: pd.DataFrame) -> int | None:
    """The sheet row (0-based) holding the table's header where the first row is a title
    instead, from ``head`` (the sheet's first rows, read with the first as the header):
    most columns came out unnamed ('Unnamed: 1') and a row below is text in every column;
    None where the first row is the header."""
    unnamed = sum(str(c).startswith("Unnamed: ") for c in head.columns)
    if head.shape[1] < 2 or unnamed * 2 < head.shape[1]:
        return None
    for i, row in enumerate(head.itertuples(index=False)):
        if all(isinstance(v, str) and v.strip() for v in row):
            return i + 1  # frame row i is sheet row i + 1 (row 0 was read as the header)
    return None


def _head_text(path: str | Path, encoding: str, size: int = 1 << 16) -> str:
    """The first ``size`` bytes of a text file, decoded (a character cut at the end of the
    sample is dropped); UnicodeDecodeError where they are not ``encoding``."""
    with _open_binary(path) as f:
        raw = f.read(size)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        if len(raw) == size and exc.start >= size - 4:  # a multi-byte character cut short
            return raw[:exc.start].decode(encoding)
        raise


def _open_binary(path: str | Path) -> IO[bytes]:
    """The file's bytes, decompressed where its suffix names a compression (a .zip must
    hold one file, as pandas requires)."""
    kind = _COMPRESSED.get(Path(path).suffix.lower())
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "bz2":
        return bz2.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise ValueError(f"a .zip must hold one file; {Path(path).name} holds "
                                 f"{len(members)}: {members[:5]}")
            return archive.open(members[0])  # keeps the file open after the archive closes
    return open(path, "rb")


def _head_lines(sample: str) -> list[str]:
    """The first 20 lines of a file's sample that are not blank, less the last where the
    sample may have cut it."""
    lines = [line for line in sample.splitlines()[:21] if line.strip()][:20]
    if len(sample) == 1 << 16 and len(lines) > 1:
        lines = lines[:-1]  # the last line of the sample may be cut
    return lines


def _rows_end_with_separator(sample: str, sep: str) -> bool:
    """Whether the data rows end with a separator that the header does not (``a,b`` over
    ``1,2,``, as some exports write every row). read_csv takes a first row with more fields
    than the header as one whose first fields are the row's labels (R's ``write.table``
    writes them so) and makes them the index: every column then held its right neighbour's
    values, the label column the prices, silently. Only the empty last fields tell a
    trailing separator from row labels, which keep that reading."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO("\n".join(_head_lines(sample))), delimiter=sep))
    if len(rows) < 2 or len(rows[1]) <= len(rows[0]):
        return False
    width = len(rows[0])
    return all(not "".join(row[width:]).strip() for row in rows[1:])


#: a number with its thousands grouped, then optionally a decimal comma: ``1.234,50``,
#: ``12.345.678``, ``3 311,03``; the grouping sign a point (German), or a space, a no-break
#: space (U+00A0) or a narrow one (U+202F, French, as Excel and LibreOffice write it)
_GROUPED = re.compile(r"-?\d{1,3}([. \u00a0\u202f])\d{3}(?:\1\d{3})*(?:,\d+)?")


def _csv_dialect(sample: str) -> dict[str, str]:
    """``read_csv``'s ``sep`` and ``decimal`` for a text file (and ``thousands``: the signs
    grouping thousands, for ``_grouped_numbers``), from its first lines: the separator
    that occurs (outside quotes) the same number of times, most often, on each of the
    first 20 lines (a separator ending each data row aside); a comma by default. With
    ``;``, decimal commas when more of the fields are written ``12,5`` or ``1.234,5``
    than ``12.5`` (``1.234`` says neither), and points (or spaces) grouping thousands
    when some number is written ``1.234`` or ``1.234,5`` (``1 234,5``) and none with a
    point (a space) otherwise (``12.5``)."""
    import csv
    import io

    lines = _head_lines(sample)
    best, best_count = ",", 0
    for sep in _SEPARATORS:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=sep))
        if _rows_end_with_separator(sample, sep):  # 'a;b' over '1;2;': two fields each
            rows = rows[:1] + [row[:len(rows[0])] for row in rows[1:]]
        counts = {len(row) - 1 for row in rows}
        if len(counts) == 1 and (count := counts.pop()) > best_count:
            best, best_count = sep, count
    dialect = {"sep": best, "decimal": "."}
    if best == ";":
        fields = [field.strip() for row in csv.reader(io.StringIO("\n".join(lines[1:])),
                                                      delimiter=";") for field in row]
        grouped = {f: m.group(1) for f in fields if (m := _GROUPED.fullmatch(f))}
        # '3.311,03' is as plain a decimal comma as '12,5' (before, it was counted as
        # neither, and a column of them was read as text)
        commas = sum(bool(re.fullmatch(r"-?\d+,\d+", f)) or (f in grouped and "," in f)
                     for f in fields)
        points = sum(bool(re.fullmatch(r"-?\d+\.\d+", f)) for f in fields)
        if commas > points:
            dialect["decimal"] = ","
            # a sign groups thousands (1.234,50) only where no number holds it otherwise:
            # '115612.0' is no 1156120, '1 2' no 12. A date or a version (31.12.2024,
            # 1.2.3) is no number: it no longer kept the points from grouping
            signs = ""
            for sign in sorted(set(grouped.values())):
                single = rf"-?\d+{re.escape(sign)}\d+(,\d+)?"
                if not any(re.fullmatch(single, f) and f not in grouped for f in fields):
                    signs += sign
            if signs:
                dialect["thousands"] = signs  # each sign that groups (seldom more than one)
    return dialect


def _grouped_numbers(frame: pd.DataFrame, thousands: str) -> None:
    """Columns of numbers whose thousands one of the signs in ``thousands`` groups
    (``1.234,50``), which ``read_csv`` with ``decimal=','`` leaves as text, as numbers, in
    place: a column only where each of its cells is such a number or a plain one (``12,5``,
    ``7``, ``+3.311,03``). Not ``read_csv``'s own ``thousands``: it drops the sign
    wherever it stands, in every column (pandas 3.1 read the date 31.12.2024 as the number
    31122024, '1 2' as 12), and takes no no-break space (two bytes in UTF-8).

    Cells read_csv made numbers already stay as they are: a file of more than 262,144 rows
    is parsed in chunks, and a chunk of plain ``12,25`` alone came back as floats beside
    another's strings (dropping them as not text lost 137,856 of 400,000 values). Columns
    are ruled out on their first cells before all are matched: a 200,000-row file of
    amounts and four other columns reads in 0.19 s (0.32 s matching every cell of every
    text column; 0.02 s with read_csv's own thousands, which misread dates), most of it
    the amounts' own matching and conversion, in Python."""
    signs = "".join(map(re.escape, thousands))
    # one sign throughout a number: '1.234 567' is none
    number = re.compile(rf"\s*[-+]?(?:\d{{1,3}}([{signs}])\d{{3}}(?:\1\d{{3}})*|\d+)"
                        r"(?:,\d+)?\s*")
    for column in frame.columns:
        column_values = frame[column]
        if column_values.dtype.kind != "O" and not pd.api.types.is_string_dtype(
                column_values.dtype):
            continue
        present = column_values.dropna()
        if not len(present) or not _all_written_numbers(present.iloc[:200], number):
            continue
        text = (np.ones(len(present), dtype=bool)  # a string dtype holds only text
                if isinstance(column_values.dtype, pd.StringDtype) else
                np.fromiter((isinstance(v, str) for v in present), dtype=bool,
                            count=len(present)))
        if not _all_written_numbers(present, number, text):
            continue
        values = pd.Series(np.nan, index=column_values.index, dtype=np.float64)
        values[present.index[~text]] = present[~text].astype(np.float64)
        written = present[text].astype(str).str.strip()  # '+3.311,03' reads as 3311.03
        values[written.index] = pd.to_numeric(
            written.str.replace(f"[{signs}]", "", regex=True).str.replace(",", ".",
                                                                            regex=False))
        frame[column] = values


def _all_written_numbers(cells: pd.Series, number: re.Pattern,
                         text: np.ndarray | None = None) -> bool:
    """Whether every cell of ``cells`` (none missing) is text ``number`` matches or a
    number read_csv read (not a boolean); ``text``: which cells are text, where known."""
    if text is None:
        text = np.fromiter((isinstance(v, str) for v in cells), dtype=bool, count=len(cells))
    others = cells[~text]
    if len(others) and not all(isinstance(v, (int, float, np.integer, np.floating))
                               and not isinstance(v, (bool, np.bool_)) for v in others):
        return False
    written = cells[text] if isinstance(cells.dtype, pd.StringDtype) else cells[text].astype(str)
    return bool(written.str.fullmatch(number).all())


def write_table(frame: pd.DataFrame, path: str | Path, *,
                dialect: dict[str, str] | None = None) -> None:
    """``frame`` to a CSV, TSV, Parquet or Excel file, as ``read_table`` reads it back
    (text that begins with '=' as text: no formula in a workbook). A CSV is
    written in ``dialect`` (``read_table``'s ``frame.attrs['lepton.dialect']``: the input
    file's separator, decimal sign and encoding) where given, so predictions for a file
    Excel wrote with semicolons open in Excel as that file did."""
    fmt = table_format(path, what="output file")
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    elif fmt == "excel":
        with pd.ExcelWriter(path, engine="openpyxl") as writer:
            frame.to_excel(writer, index=False)
            # openpyxl makes a formula of any text that begins with '=': a kept column's
            # '=HYPERLINK(...)' became a live link in the predictions (security review
            # helper-75). Every cell written is a value: such text stays text.
            for row in writer.sheets[next(iter(writer.sheets))].iter_rows():
                for cell in row:
                    if cell.data_type == "f":
                        cell.data_type = "s"
    elif fmt == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    else:
        frame.to_csv(path, index=False, **(dialect or {"sep": ","}))


def _unlabelled(unlabelled: np.ndarray, everywhere: str, which: str) -> list[str]:
    """Rows without a target can be neither learnt from nor scored: the note on those
    left out (``which``: how they lack it), or the error ``everywhere`` when none is left.
    The rows are counted as the table holds them, not as lines of the file: a blank line
    is no row, a quoted cell may span lines."""
    if unlabelled.all():
        raise ValueError(everywhere)
    if not unlabelled.any():
        return []
    rows = np.flatnonzero(unlabelled)
    return [f"left out {len(rows)} row(s) {which} ({_table_rows(rows)})"]


def _table_rows(rows: np.ndarray) -> str:
    """Positions in a table, as its reader counts them: 'rows 1, 7 of the table, its first
    row under the header being row 1' (the first five)."""
    shown = ", ".join(str(r + 1) for r in rows[:5]) + (" ..." if len(rows) > 5 else "")
    return (f"{'row' if len(rows) == 1 else 'rows'} {shown} of the table, its first row "
            "under the header being row 1")


def _check_finite_target(y: pd.Series, target: Any) -> None:
    """An infinite target (``inf``, ``-inf``, ``Infinity``: a division by zero in an
    export) is refused before any search, by the rows of the table: in the held-out rows
    it failed the run after the whole search, in scikit-learn's words; in the training
    rows it was reported by positions in the shuffled split."""
    if y.dtype.kind != "f":
        return
    rows = np.flatnonzero(np.isinf(y.to_numpy()))
    if len(rows):
        raise ValueError(
            f"target {target!r} is infinite in {len(rows)} row(s) ({_table_rows(rows)}): fix "
            "those values, or empty them to leave their rows out.")


#: what pandas infers of a column that several targets may hold (True/False with a
#: missing cell is an object column, inferred 'boolean')
_TARGET_KINDS = ("boolean", "integer", "floating", "mixed-integer-float")


def _spaced(names: list[str], frame: pd.DataFrame) -> str:
    """Where a column differs from a name only by spaces around it (a header written
    'id, label'), what the error message adds: the column as it is written."""
    near = [c for name in names for c in frame.columns
            if isinstance(c, str) and c != name and c.strip() == name.strip()]
    return f" ({', '.join(map(repr, near))}: spaces around the name, as the file writes it)" \
        if near else ""


def _several_targets(frame: pd.DataFrame, targets: list[str], path: Path,
                     notes: list[str]) -> Dataset:
    """``load_dataset`` with several target columns: each of 0/1, True/False or numbers;
    rows missing any of them are left out, and said."""
    from .estimators._base import infer_task

    missing = [t for t in targets if t not in frame.columns]
    if missing:
        raise ValueError(f"target={targets!r}: {missing} not column(s) of {path.name}; columns "
                         f"are {list(frame.columns)}{_spaced(missing, frame)}.")
    y = frame[targets]
    kinds = {col: pd.api.types.infer_dtype(y[col], skipna=True) for col in targets}
    for col, kind in kinds.items():
        if kind not in _TARGET_KINDS:
            raise ValueError(
                f"target column {col!r} holds text (e.g. {y[col].dropna().iloc[0]!r}); "
                "several target columns must each be 0/1 or True/False (one label each: a "
                "multilabel target) or numbers (a regression's outputs). For a class per "
                "column, run one column at a time.")
    for col in targets:
        _check_finite_target(y[col], col)
    unlabelled = y.isna().any(axis=1).to_numpy()
    notes += _unlabelled(unlabelled, f"target={targets!r}: every row of {path.name} misses "
                         "one of them.", f"missing one of the targets {targets}")
    keep = ~unlabelled
    X = frame.drop(columns=targets).loc[keep].reset_index(drop=True)
    y = y.loc[keep].reset_index(drop=True)
    if all(y[c].isin([0, 1]).all() for c in targets):  # labels (True == 1, False == 0)
        # each as given: True/False (with a missing cell, objects) as booleans, which the
        # predictions write so again; 0/1 read as floats (a missing cell) as ints
        y = y.astype({c: bool if kinds[c] == "boolean" else np.int64 for c in targets})
    return Dataset(table_name(path), X, y, infer_task(y), notes=notes)


def check_builtin_target(name_or_path: str, target: Any) -> None:
    """A built-in dataset has its own target: one given is a mistake, most often a file
    named after ``--target``, which takes several columns and so takes the file too."""
    if name_or_path in BUILTIN_DATASETS and target is not None:
        raise ValueError(
            f"target={target!r} names a column of a table file, but the dataset is the "
            f"built-in {name_or_path!r}, which has its own; to search a file, name it "
            "first: lepton run data.csv --target COLUMN.")


def load_dataset(name_or_path: str, *, target: str | Sequence[str] | None = None) -> Dataset:
    """A built-in dataset by name, or a table file (CSV, TSV, Parquet, Excel) with its
    ``target`` column, or several: 0/1 (or True/False) columns are one multilabel target,
    columns of numbers a regression's outputs (``Dataset.y`` a DataFrame of them)."""
    check_builtin_target(name_or_path, target)
    if name_or_path in BUILTIN_DATASETS:
        return BUILTIN_DATASETS[name_or_path]()
    path = Path(name_or_path)
    if not path.exists():
        # from the OS's own error: a scheduled run's load retries it (pipelines' is_transient)
        # where tonight's export is late, as a read that met an I/O error is
        raise ValueError(
            f"dataset={name_or_path!r} is neither a built-in dataset "
            f"({', '.join(BUILTIN_DATASETS)}) nor an existing table file (CSV, TSV, "
            "Parquet or Excel)."
        ) from FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    frame = read_table(path)
    if target is None:
        raise ValueError(f"a file needs its target column named (--target / target=); the "
                         f"columns of {path.name} are {list(frame.columns)}.")
    notes = [frame.attrs.pop("lepton.read")] if "lepton.read" in frame.attrs else []
    frame.attrs.pop("lepton.dialect", None)  # for lepton predict; pandas copies attrs along
    targets = [target] if isinstance(target, str) else list(target)
    if len(frame) == 0:
        raise ValueError(f"{path.name} has no rows, only its header {list(frame.columns)}.")
    if set(frame.columns) <= set(targets):
        raise ValueError(f"{path.name} has no columns besides the target "
                         f"{targets if len(targets) > 1 else targets[0]!r}: nothing to learn "
                         "from.")
    if not isinstance(target, str):
        targets = list(dict.fromkeys(target))
        if len(targets) > 1:
            return _several_targets(frame, targets, path, notes)
        target = targets[0]
    if target not in frame.columns:
        raise ValueError(
            f"target={target!r} is not a column of {path.name}; columns are "
            f"{list(frame.columns)}{_spaced([target], frame)}."
        )
    y = frame.pop(target)
    from .estimators._base import infer_task
    from .preprocessing import text_numbers

    # a target of amounts written as '$1,234.50' is text to pandas, which would make every
    # amount a class: numbers, where they are a regression target ('?' in it: missing)
    numbers = text_numbers(y)
    if numbers is not None and infer_task(numbers) == "regression":
        y = pd.Series(numbers, index=y.index, name=target)
    _check_finite_target(y, target)
    # rows without a target can be neither learnt from nor scored: left out, and said
    unlabelled = y.isna().to_numpy()
    notes += _unlabelled(unlabelled, f"target={target!r} is missing in every row of "
                         f"{path.name}.", f"whose target {target!r} is missing")
    if unlabelled.any():
        frame, y = frame.loc[~unlabelled].reset_index(drop=True), y[~unlabelled]
        if y.dtype.kind == "f" and infer_task(y) == "classification":
            y = y.astype(np.int64)  # whole numbers read as floats for a missing cell: as ints
    ds = Dataset(table_name(path), frame, y.to_numpy(), infer_task(y), notes=notes,
                 written_target=_zero_padded_target(path, target, y, len(unlabelled)))
    ds.set_task(ds.task)
    return ds


def _zero_padded_target(path: Path, target: str, y: pd.Series, rows: int
                        ) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Where a target read as whole numbers is written with leading zeros in some cells
    (classes 002, 005, 010), its labels as written, its numbers and the note that says so
    (``Dataset.written_target``); None otherwise. As numbers, such classes were predicted
    2, 5, 10 and named proba_2, silently: identifiers of classes, not amounts. A number
    with a fraction (``007.5``, ``0.5``) or none padded (0, 1, 2) stays a number. The
    target column is read once more, as written (a Parquet file's is typed already); ``y``
    is indexed by the table's ``rows`` (those without a target left out)."""
    values = y.to_numpy()
    if y.dtype.kind not in "iuf" or table_format(path, what="dataset file") == "parquet":
        return None
    if y.dtype.kind == "f" and not np.all(values == np.round(values)):
        return None
    written = read_table(path, as_written=[target])[target]
    if len(written) != rows or not (pd.api.types.is_string_dtype(written.dtype)
                                    or written.dtype == object):
        return None  # rows read otherwise than the first time; a sheet's number cells
    text = written.loc[y.index].astype(str).str.strip()
    if not (text.str.fullmatch(r"[-+]?\d+").all() and text.str.match(r"[-+]?0\d").any()):
        return None
    padded = ", ".join(map(repr, sorted(text[text.str.match(r"[-+]?0\d")].unique())[:3]))
    note = (f"target {target!r}: classes written with leading zeros ({padded}), read as "
            "text, so predictions give them as written; task 'regression' (--task "
            "regression) takes them as numbers")
    return text.to_numpy(dtype=object), values, note
