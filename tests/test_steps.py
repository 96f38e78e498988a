"""lepton.steps: the steps ``lepton run`` and the Prefect flow share."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import joblib
import pytest

from lepton import steps


def test_save_replaces_the_file_whole_and_keeps_joblib_compression(tmp_path):
    path = tmp_path / "model.joblib.gz"
    steps.save({"version": 1}, str(path))
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzip: joblib read the suffix
    assert joblib.load(path) == {"version": 1}

    with pytest.raises(Exception):  # a lambda cannot be pickled: the dump fails midway
        steps.save({"version": 2, "bad": lambda: None}, str(path))
    assert joblib.load(path) == {"version": 1}  # the previous model is intact
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib.gz"]  # no partial left

    steps.save({"version": 3}, str(path))
    assert joblib.load(path) == {"version": 3}


def test_a_save_killed_midway_keeps_the_old_model_and_hides_its_partial_file(tmp_path):
    """SIGKILL while --save writes: the previous model stays whole, the half-written file
    is hidden (no ``*.joblib`` glob loads it) and the next save removes it."""
    path = tmp_path / "model.joblib"
    steps.save({"version": 1}, str(path))
    marker = tmp_path / "dumping"
    script = (
        "import pathlib, time\n"
        "from lepton import steps\n"
        "class Slow:\n"
        "    def __reduce__(self):\n"
        f"        pathlib.Path({str(marker)!r}).touch()\n"
        "        time.sleep(120)\n"
        "        return (dict, ())\n"
        f"steps.save({{'version': 2, 'slow': Slow()}}, {str(path)!r})\n")
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the child never started pickling"
    finally:
        proc.kill()
        proc.wait()
    assert joblib.load(path) == {"version": 1}
    assert [p.name for p in tmp_path.glob("*.joblib")] == ["model.joblib"]
    partials = [p.name for p in tmp_path.iterdir() if ".partial-" in p.name]
    assert len(partials) == 1 and partials[0].startswith(".model.joblib.partial-"), partials

    steps.save({"version": 3}, str(path))
    assert joblib.load(path) == {"version": 3}
    assert not [p.name for p in tmp_path.iterdir() if ".partial-" in p.name]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_save_removes_only_the_partial_files_of_this_machines_ended_processes(tmp_path):
    """A partial file's name is ``.<file>.partial-<host>-<pid>-<ns>-<instance>``. A host
    named ``<this host>-<digits>`` writing to the same shared folder had its in-progress
    partial parsed as this host's pid and deleted; a container sharing the host name and
    the folder, with its own pids, too. Only those of this machine's ended processes go."""
    import socket

    from lepton.tracking._store import process_instance

    host, machine = socket.gethostname(), process_instance().partition("/")[2]
    ended = subprocess.Popen(["true"])
    ended.wait()
    ticks = process_instance().partition("/")[0]  # not the ended process's start time

    def partial(host_pid: str, instance: str) -> str:
        name = f".model.joblib.partial-{host_pid}-{time.monotonic_ns()}-{instance}"
        (tmp_path / name).write_bytes(b"half a model")
        return name

    kept = [
        # another host, named like this one plus a suffix: its pid read as 4193999's
        partial(f"{host}-4193999-{ended.pid}", f"{ticks}_{machine.replace('@', '@x')}"),
        f".model.joblib.partial-{host}-4193999-1234-99999999",  # as bf1704e named them
        partial(f"{host}-{ended.pid}", f"{ticks}_1@another-boot"),  # another container
        partial(f"{host}-{os.getpid()}", process_instance().replace("/", "_")),  # live
    ]
    (tmp_path / kept[1]).write_bytes(b"half a model")
    removed = [partial(f"{host}-{ended.pid}", f"{ticks}_{machine}"),  # ended
               partial(f"{host}-{os.getpid()}", f"1_{machine}")]  # its pid given again

    steps.save({"version": 1}, str(tmp_path / "model.joblib"))
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"model.joblib", *kept}, names
    assert not names & set(removed)


def test_check_writable_refuses_a_name_too_long_for_the_file_written_first(tmp_path):
    """The model is written first under a longer hidden name: a name that fits the folder
    but not with that was accepted before the search and failed after it (Errno 36)."""
    import os

    longest = os.pathconf(tmp_path, "PC_NAME_MAX")
    extra = len(os.path.basename(steps._partial_path(str(tmp_path / "m")))) - 1
    steps.check_writable(str(tmp_path / ("m" * (longest - extra - 2))))
    with pytest.raises(ValueError, match=r"--save .*too long to write it safely.*up to "
                                         rf"{longest} bytes"):
        steps.check_writable(str(tmp_path / ("m" * (longest - extra + 8))))


def test_load_split_checks_its_arguments():
    with pytest.raises(ValueError, match="task='clustering'"):
        steps.load_split("iris", task="clustering")
    with pytest.raises(ValueError, match="test_size=1.5"):
        steps.load_split("iris", test_size=1.5)
    split = steps.load_split("iris", test_size=0.2, seed=3)
    assert (split.name, split.task, split.rows, len(split.y_test)) == (
        "iris", "classification", 150, 30)
    assert split.default_metric == "accuracy"


def test_check_writable_names_the_option(tmp_path):
    with pytest.raises(ValueError, match=r"save .*does not exist"):
        steps.check_writable(str(tmp_path / "missing" / "m.joblib"), what="save")
    steps.check_writable(str(tmp_path / "m.joblib"))


def _dated_table(tmp_path, n=80):
    import numpy as np
    import pandas as pd

    days = pd.date_range("2024-01-01", periods=n, freq="D")
    order = np.random.default_rng(0).permutation(n)       # the file is not in time order
    frame = pd.DataFrame({"day": days[order].strftime("%d.%m.%Y"), "step": order,
                          "x": np.arange(n, dtype=float), "y": order * 2.0})
    path = tmp_path / "dated.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_time_column_holds_out_the_latest_rows(tmp_path):
    from sklearn.model_selection import TimeSeriesSplit

    path = _dated_table(tmp_path)
    for column in ("day", "step"):                        # dates as text, or a time step
        split = steps.load_split(str(path), target="y", time_column=column, test_size=0.25)
        assert split.time_column == column and len(split.y_test) == 20
        # every held-out row is later than every training row, and the rows are in order
        assert split.X_train.step.tolist() == list(range(60))
        assert split.X_test.step.tolist() == list(range(60, 80))
        assert split.y_test.tolist() == [2.0 * s for s in range(60, 80)]
    assert steps.time_note(split) == (
        "held out the latest 20 rows by 'step' (from 60); the search validates on "
        "TimeSeriesSplit(5), forward in time")
    # `lepton run --fixed` searches nothing: its early stopping holds out random rows
    assert split.notes(search=False)[0] == "held out the latest 20 rows by 'step' (from 60)"
    model = steps.build_estimator(split, tracking=False)
    assert isinstance(model.cv, TimeSeriesSplit) and model.cv.n_splits == 5
    assert steps.build_estimator(steps.load_split(str(path), target="y"),
                                 tracking=False).cv == "auto"
    # a table too large for folds: one split, the latest 20% of the training rows
    (train, valid), = steps.time_cv(10_000)
    assert (train.tolist(), valid.tolist()) == (list(range(8000)), list(range(8000, 10_000)))


def test_a_time_column_is_checked(tmp_path):
    import pandas as pd

    path = _dated_table(tmp_path)
    with pytest.raises(ValueError, match=r"time_column='when' is not a column of dated; its "
                                         r"columns are \['day', 'step', 'x'\]"):
        steps.load_split(str(path), target="y", time_column="when")
    with pytest.raises(ValueError, match=r"time_column='day': digits has no named columns; a "
                                         r"time column needs a CSV or Parquet file"):
        steps.load_split("digits", time_column="day")
    frame = pd.read_csv(path)
    frame.loc[[3, 9], "day"] = None
    frame.assign(tag=["a", "b"] * 40).to_csv(tmp_path / "gaps.csv", index=False)
    with pytest.raises(ValueError, match=r"time_column='day' is missing in 2 row\(s\) \(first "
                                         r"rows: \[3, 9\]: \['\(empty\)'\]\)"):
        steps.load_split(str(tmp_path / "gaps.csv"), target="y", time_column="day")
    with pytest.raises(ValueError, match=r"time_column='tag' holds neither dates nor numbers "
                                         r"\(\['a', 'b'\]\)"):
        steps.load_split(str(tmp_path / "gaps.csv"), target="y", time_column="tag")


def test_a_time_column_error_names_the_rows_and_values_at_fault(tmp_path):
    """One '?' or one bad date among 79 good ones said 'holds neither dates nor numbers'
    and listed five good dates; '?' is a missing-value marker (review helper-48)."""
    import pandas as pd

    frame = pd.read_csv(_dated_table(tmp_path))
    cases = {"?": r"is missing in 1 row\(s\) \(first rows: \[7\]: \['\?'\]\)",
             "31.13.2024": (r"holds dates \('%d\.%m\.%Y'\) in 79 of 80 rows, and other values "
                            r"in 1 \(first rows: \[7\]: \['31\.13\.2024'\]\)"),
             "x": r"holds numbers in 79 of 80 rows, and other values in 1 \(first rows: \[7\]: "
                  r"\['x'\]\)"}
    for bad, match in cases.items():
        column = "step" if bad == "x" else "day"
        frame.astype({column: str}).assign(**{column: lambda f: f[column].where(
            f.index != 7, bad)}).to_csv(tmp_path / "bad.csv", index=False)
        with pytest.raises(ValueError, match=f"time_column='{column}' {match}"):
            steps.load_split(str(tmp_path / "bad.csv"), target="y", time_column=column)


def test_rows_of_one_time_are_held_out_together(tmp_path):
    """7 rows a day: the cut by position left 5 of a day's rows in training and 2 held out,
    under a note saying the held-out rows start at that day (review helper-48)."""
    import numpy as np
    import pandas as pd

    days = np.repeat(pd.date_range("2021-01-01", periods=29).strftime("%Y-%m-%d"), 7)
    rng = np.random.default_rng(0)
    pd.DataFrame({"day": days, "x": rng.normal(size=203), "y": rng.normal(size=203)}).iloc[
        rng.permutation(203)].to_csv(tmp_path / "daily.csv", index=False)
    split = steps.load_split(str(tmp_path / "daily.csv"), target="y", time_column="day")
    assert len(split.y_test) == 56 and split.X_test.day.min() == "2021-01-22"
    assert split.X_train.day.max() == "2021-01-21"
    # the search's folds too: TimeSeriesSplit(5) over the 147 training rows started its
    # folds inside days (at rows 27, 51, 75, 99, 123, all five); each starts at a day now
    folds = steps.build_estimator(split, tracking=False).cv
    assert [valid[0] for _, valid in folds] == [21, 49, 70, 98, 119]
    for train, valid in folds:
        assert train.tolist() == list(range(valid[0])) and valid[0] % 7 == 0
        assert split.X_train.day.iloc[train].max() < split.X_train.day.iloc[valid].min()
    assert steps.time_note(split).endswith(
        "the search validates on 5 folds, each from a time's first row (TimeSeriesSplit's, "
        "moved), forward in time")
    # the training rows all of one time: cut by position, as before
    assert steps.time_cv(14, times=np.zeros(14)).n_splits == 5
    # the first held-out time holding most rows: the later times are held out (review
    # helper-52: a split of 800 rows of 2023 and 200 of 2024 was refused)
    pd.DataFrame({"year": [2023] * 800 + [2024] * 200, "x": 0.0, "y": 1.0}).to_csv(
        tmp_path / "years.csv", index=False)
    split = steps.load_split(str(tmp_path / "years.csv"), target="y", time_column="year")
    assert (len(split.y_train), len(split.y_test)) == (800, 200)
    assert set(split.X_test.year) == {2024}
    pd.DataFrame({"day": ["2021-01-01"] * 8, "x": 0.0, "y": 1.0}).to_csv(tmp_path / "one.csv",
                                                                        index=False)
    with pytest.raises(ValueError, match=r"time_column='day' holds one time for every row "
                                         r"\(2021-01-01\): rows in time order need two times"):
        steps.load_split(str(tmp_path / "one.csv"), target="y", time_column="day")


def test_a_target_of_amounts_written_as_text_is_a_regression_target(tmp_path):
    """'$1,234.50' is text to pandas: as classes, every amount would be one."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    amounts = np.exp(rng.normal(5, 1, 80)).round(2)
    frame = pd.DataFrame({"x": rng.normal(size=80), "price": [f"${a:,.2f}" for a in amounts],
                          "tier": rng.choice(["$5", "$10", "$20"], 80)})
    path = tmp_path / "sales.csv"
    frame.to_csv(path, index=False)
    split = steps.load_split(str(path), target="price")
    assert split.task == "regression"
    np.testing.assert_allclose(np.sort(np.concatenate([split.y_train, split.y_test])),
                               np.sort(amounts))
    # a few price tiers stay classes, with their labels as written
    split = steps.load_split(str(path), target="tier")
    assert split.task == "classification" and set(split.y_train) == {"$5", "$10", "$20"}
    # a missing amount written '?' (or left empty) is a missing target: the row is left out,
    # and the run says which
    frame.loc[7, "price"] = "?"
    frame.loc[[20, 21], "tier"] = None
    frame.to_csv(path, index=False)
    split = steps.load_split(str(path), target="price", test_size=0.5)
    assert split.task == "regression" and split.rows == 79
    assert not np.isnan(np.concatenate([split.y_train, split.y_test])).any()
    assert split.notes()[0] == ("left out 1 row(s) whose target 'price' is missing (row 8 of "
                                "the table, its first row under the header being row 1)")
    split = steps.load_split(str(path), target="tier")
    assert split.rows == 78 and split.notes()[0].startswith("left out 2 row(s) whose target "
                                                           "'tier' is missing (rows 21, 22")
    # classes written 0/1 stay ints when a missing cell makes pandas read them as floats
    # (a saved model's classes, and `lepton predict`'s proba_ columns, named 0 and 1)
    frame["flag"] = np.arange(80) % 2
    frame.loc[3, "flag"] = None
    frame.to_csv(path, index=False)
    split = steps.load_split(str(path), target="flag")
    assert split.task == "classification" and split.y_train.dtype == np.int64
    assert set(split.y_train) == {0, 1}
    frame["tier"] = None
    frame.to_csv(path, index=False)
    with pytest.raises(ValueError, match="target='tier' is missing in every row of sales.csv"):
        steps.load_split(str(path), target="tier")
    # a file of headers only, and one of the target alone: said as such (they were a
    # target missing in every row, and scikit-learn's 'Found array with 0 feature(s)')
    frame.iloc[:0].to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"sales\.csv has no rows, only its header \['x', "):
        steps.load_split(str(path), target="tier")
    frame[["price"]].to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"sales\.csv has no columns besides the target "
                                         r"'price': nothing to learn from"):
        steps.load_split(str(path), target="price")


def test_rows_left_out_are_counted_as_the_table_holds_them(tmp_path):
    """The note named 'file rows' counted records, off from the file's lines after a
    blank line or a quoted cell spanning two lines; it says now what it counts."""
    lines = ["note,a,y", *(f"x{i},{i},{i % 2}" for i in range(40))]
    lines[3] = '"two\nlines",2,0'
    lines.insert(5, "")
    lines[10] = "x9,9,"  # line 12 of the file, row 9 of the table
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    assert steps.load_split(str(path), target="y").notes()[0] == (
        "left out 1 row(s) whose target 'y' is missing (row 9 of the table, its first row "
        "under the header being row 1)")


def test_csv_files_as_excel_writes_them_in_europe_are_read(tmp_path):
    """Semicolons, decimal commas, points grouping thousands, Windows-1252: the file is
    read as written, and the run says so."""
    from lepton.datasets import read_table

    path = tmp_path / "kunden.csv"
    path.write_bytes("name;umsatz;menge;y\n\"Müller; Hans\";12,5;1.234;1\nSchön;3,25;2;0\n"
                     "Bauer;1.000,5;3;1\nKeller;2,0;4;0\n".encode("cp1252"))
    frame = read_table(path)
    assert list(frame.columns) == ["name", "umsatz", "menge", "y"]
    assert frame["name"].tolist() == ["Müller; Hans", "Schön", "Bauer", "Keller"]
    assert frame["umsatz"].tolist() == [12.5, 3.25, 1000.5, 2.0]
    assert frame["menge"].tolist() == [1234, 2, 3, 4]
    assert frame.attrs["lepton.read"] == ("read kunden.csv as semicolon-separated, decimal "
                                          "commas, encoding cp1252")
    split = steps.load_split(str(path), target="y", test_size=0.5)
    assert split.notes()[0] == frame.attrs["lepton.read"]
    # a number written with a decimal point among decimal commas: no thousands points then
    # (pandas would drop the point wherever it stands: 115612.0 -> 1156120)
    path.write_text("a;b;y\n115612.0;1,5;1\n2,5;3,25;0\n")
    frame = read_table(path)
    assert frame["b"].tolist() == [1.5, 3.25] and frame["a"].tolist() == ["115612.0", "2,5"]
    # semicolons with decimal points; pipes; a single column; plain UTF-8 commas say nothing
    for text, columns, note in [
        ("a;b;y\n1.5;2.25;3\n4.5;5.5;6\n", ["a", "b", "y"], "read t.csv as semicolon-separated"),
        ("a|b|y\n1|2|3\n4|5|6\n", ["a", "b", "y"], "read t.csv as pipe-separated"),
        ("y\n1\n2\n", ["y"], None),
        ("a,b,y\n\"x; z\",2,3\n\"u; v\",5,6\n", ["a", "b", "y"], None),
    ]:
        (tmp_path / "t.csv").write_text(text)
        frame = read_table(tmp_path / "t.csv")
        assert list(frame.columns) == columns and frame.attrs.get("lepton.read") == note


def test_amounts_grouped_in_thousands_with_a_decimal_comma_are_numbers(tmp_path):
    """'3.311,03' matched neither '12,5' nor '12.5', so the decimal stayed a point and
    the amounts were text (an identifier, or 120 classes as the target); a date
    '01.01.2023' beside them counted against points grouping thousands, and read_csv's
    own thousands would read it as the number 1012023. French spaces group so too."""
    import numpy as np

    from lepton.datasets import read_table

    rng = np.random.default_rng(0)
    amounts = rng.uniform(200, 5000, 60).round(2)
    german = [f"{a:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
              for a in amounts]  # 3.311,03 and, under 1000, 378,74
    days = [f"{d % 28 + 1:02d}.{d % 12 + 1:02d}.2023" for d in range(60)]
    rows = "".join(f"{d};{a};{'hoch' if v > 3000 else 'niedrig'}\n"
                   for d, a, v in zip(days, german, amounts))
    path = tmp_path / "buchungen.csv"
    path.write_text("datum;betrag;klasse\n" + rows)
    frame = read_table(path)
    np.testing.assert_allclose(frame["betrag"], amounts)
    assert frame["datum"].tolist() == days  # the dates as written, for the run to read
    assert frame.attrs["lepton.read"] == ("read buchungen.csv as semicolon-separated, "
                                          "decimal commas")
    split = steps.load_split(str(path), target="betrag")
    assert split.task == "regression"
    # every amount grouped (none under 1000), no dates; millions; a blank cell
    path.write_text("betrag;menge\n3.311,03;4\n12.345.678,9;7\n;1\n1.827,16;2\n")
    assert read_table(path)["betrag"].tolist()[:2] == [3311.03, 12345678.9]
    # French: a space, a no-break space or a narrow one groups the thousands
    for space in (" ", "\u00a0", "\u202f"):
        path.write_text(f"montant;qte\n3{space}311,03;8\n1{space}827,16;2\n12,5;1\n")
        assert read_table(path)["montant"].tolist() == [3311.03, 1827.16, 12.5]
    # a column of other things written with points or spaces stays text, as written
    path.write_text("v;code;x\n1.2.3;1 2;1.234,5\n4.5.6;3 4;12,5\n")
    frame = read_table(path)
    assert frame["v"].tolist() == ["1.2.3", "4.5.6"] and frame["code"].tolist() == ["1 2", "3 4"]
    assert frame["x"].tolist() == [1234.5, 12.5]


def test_a_separator_ending_each_row_shifts_no_column(tmp_path):
    """Data rows ending with a separator the header lacks: read_csv took the first field of
    each row for its label (the index), and every column its right neighbour's values (the
    label column the prices: a regression). Row labels (R's write.table, a header one
    field short) are still taken as such, and an index written as a column stays one."""
    import warnings

    from lepton.datasets import read_table

    header = ["label", "price", "qty", "city"]
    rows = [["high", "103.77", "43", "Lyon"], ["low", "96.04", "48", "Paris"]] * 10
    for name, sep in [("t.csv", ","), ("t.tsv", "\t"), ("semi.csv", ";")]:
        path = tmp_path / name
        path.write_text(sep.join(header) + "\n"
                        + "".join(sep.join(row) + sep + "\n" for row in rows))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no ParserWarning either
            frame = read_table(path)
        assert list(frame.columns) == header, name
        assert frame["label"].tolist()[:2] == ["high", "low"], name
        assert frame["price"].tolist()[:2] == [103.77, 96.04], name
    split = steps.load_split(str(tmp_path / "t.csv"), target="label", test_size=0.5)
    assert split.task == "classification" and set(split.y_train) == {"high", "low"}
    (tmp_path / "r.csv").write_text("a,b\nr1,1,2\nr2,4,5\n")
    frame = read_table(tmp_path / "r.csv")
    assert frame.to_dict("list") == {"a": [1, 4], "b": [2, 5]}
    (tmp_path / "i.csv").write_text(",label,price\n0,high,1.5\n1,low,2.5\n")
    assert list(read_table(tmp_path / "i.csv").columns) == ["Unnamed: 0", "label", "price"]


def test_a_utf16_file_is_read_by_its_byte_order_mark(tmp_path):
    """Excel's "Unicode Text" (UTF-16 with a byte-order mark, tabs between fields) was
    read as Windows-1252: a NUL byte after each character, in every name and cell.
    lepton predict writes its predictions back in the file's encoding."""
    import pandas as pd

    from lepton.datasets import read_table, write_table

    text = "label\tprice\tcity\nhigh\t869.07\tMünchen\nlow\t12.5\tKöln\n"
    path = tmp_path / "export.txt"
    for encoding in ("utf-16", "utf-16-be", "utf-32"):
        bom = "\ufeff" if encoding == "utf-16-be" else ""  # the codec writes no mark itself
        path.write_bytes((bom + text).encode(encoding))
        frame = read_table(path)
        assert frame.to_dict("list") == {"label": ["high", "low"], "price": [869.07, 12.5],
                                         "city": ["München", "Köln"]}, encoding
    assert frame.attrs["lepton.read"] == "read export.txt as tab-separated, encoding utf-32"
    path.write_bytes(text.encode("utf-16"))
    frame = read_table(path)
    write_table(frame, tmp_path / "pred.csv", dialect=frame.attrs["lepton.dialect"])
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "pred.csv", sep="\t",
                                              encoding="utf-16"), frame)


def test_the_run_names_whole_number_columns_it_encodes_as_codes(tmp_path):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    store, age = rng.integers(0, 100, 2000), rng.integers(18, 80, 2000)
    effect = rng.normal(size=100)
    frame = pd.DataFrame({"store": store, "age": age})
    frame["sales"] = 1.5 * effect[store] + np.sin((age - 18) / 10) + rng.normal(0, .3, 2000)
    frame["high"] = np.where(frame.sales > 0, "yes", "no")
    path = tmp_path / "shops.csv"
    frame.to_csv(path, index=False)
    note = ("column 'store': whole numbers that act as codes (the mean target jumps from one "
            "value to the next), target-encoded beside their numbers")
    for target, other in (("sales", "high"), ("high", "sales")):
        split = steps.load_split(str(path), target=target)
        split.X_train = split.X_train.drop(columns=other)
        assert split.notes() == [note]


def test_held_out_scores_take_a_class_only_the_held_out_rows_hold():
    """A class of one row, or new in the latest rows, only in the held-out rows: `lepton
    run --metric f1_macro` (roc_auc, balanced_accuracy, log_loss) ended in KeyError after
    its whole search, the model unsaved."""
    import numpy as np
    from sklearn.metrics import f1_score, roc_auc_score

    from lepton import NeuralNetworkClassifier

    X = np.random.default_rng(0).normal(size=(80, 3))
    y = np.where(X[:, 0] > 0, "a", "b")
    model = NeuralNetworkClassifier(hidden_layer_sizes=(8,), epochs=5, random_state=0).fit(X, y)
    X_te, y_te = X[:20], y[:20].astype(object)
    y_te[0] = "new"
    # labels: the new class's rows count as wrong, as scikit-learn counts them
    assert steps._held_out(model, X_te, y_te, "f1_macro", "classification") == \
        pytest.approx(f1_score(y_te, model.predict(X_te), average="macro"))
    # probabilities: the model has none for it, so its rows are left out, and said so
    with pytest.warns(UserWarning, match=r"held-out roc_auc: 1 row\(s\) of class\(es\) the "
                                         r"training rows lack \('new'\) are left out"):
        auc = steps._held_out(model, X_te, y_te, "roc_auc", "classification")
    assert auc == pytest.approx(roc_auc_score(y_te[1:] == "b",
                                              model.predict_proba(X_te[1:])[:, 1]))


def test_grouped_amounts_beside_booleans_and_across_read_csv_chunks(tmp_path):
    """Second reading of the grouped amounts: a True/False column with a blank cell is no
    text column to match (AttributeError from .str); a file of more than 262,144 rows is
    parsed in chunks, and a chunk of plain '12,25' alone came back as floats beside the
    other's strings, which were matched and the floats lost (137,856 of 400,000); a sign
    '+3.311,03' (bank exports) is a number; a last field of spaces warns of no data loss."""
    import warnings

    import numpy as np
    import pandas as pd

    from lepton.datasets import read_table

    (tmp_path / "bool.csv").write_text("betrag;aktiv;klasse\n4.237,67;False;a\n1.368,69;;b\n"
                                       "+12,5;True;a\n")
    frame = read_table(tmp_path / "bool.csv")
    assert frame.betrag.tolist() == [4237.67, 1368.69, 12.5]
    assert frame.aktiv.tolist()[::2] == [False, True] and pd.isna(frame.aktiv[1])
    n = 300_000
    amounts = np.round(np.random.default_rng(0).uniform(1, 999, n), 2)
    cells = [f"{a:.2f}".replace(".", ",") for a in amounts]
    cells[:10] = ["1.000,50"] * 10
    pd.DataFrame({"betrag": cells, "k": 1}).to_csv(tmp_path / "big.csv", sep=";", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read = read_table(tmp_path / "big.csv").betrag
    assert read.dtype == np.float64 and read.notna().all()
    assert read[:10].eq(1000.5).all() and np.allclose(read[10:], amounts[10:])
    # a word after read_csv's first chunk: the column came back as ints and strings, with a
    # DtypeWarning asking for read_csv arguments lepton run's user never wrote
    codes = np.arange(n).astype(object)
    codes[-1] = "unknown"
    pd.DataFrame({"code": codes, "k": 1}).to_csv(tmp_path / "late.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read = read_table(tmp_path / "late.csv").code
    assert set(read.map(type)) == {str} and read.iloc[-2:].tolist() == [str(n - 2), "unknown"]
    (tmp_path / "spaces.csv").write_text("a,b,label\n1,2,x, \n3,4,y, \n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_table(tmp_path / "spaces.csv").to_dict("list") == {
            "a": [1, 3], "b": [2, 4], "label": ["x", "y"]}


def test_several_targets_that_look_like_classes_are_said_to_be_regressed(tmp_path):
    """A 0/1 column beside a price, or two columns of grades, were regressed on without a
    word (R^2 -0.02 on the grades), and --task classification then gave Python advice
    (MultiOutputClassifier) and the held-out split's shape (review helper-53)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "price": rng.normal(1e6, 1e5, size=40),
                          "flag": np.arange(40) % 2, "grade": np.arange(40) % 3 + 1,
                          "tier": np.arange(40) % 3, "urgent": np.arange(40) % 2 == 0})
    frame.to_csv(tmp_path / "several.csv", index=False)
    path = str(tmp_path / "several.csv")
    split = steps.load_split(path, target=["price", "flag"])
    assert split.task == "regression"
    assert split.notes()[0].startswith(
        "target column 'flag' holds 0/1, regressed on as numbers with the others: several "
        "targets are classified only where every one is 0/1")
    split = steps.load_split(path, target=["grade", "tier"])
    assert split.notes()[0].startswith("target columns 'grade', 'tier' hold a few whole "
                                       "numbers, regressed on as numbers")
    assert steps.load_split(path, target=["flag", "urgent"]).task == "classification"
    assert not [n for n in steps.load_split(path, target=["flag", "urgent"]).notes()
                if "regressed" in n]
    assert not steps.load_split(path, target=["x", "price"]).notes()
    with pytest.raises(ValueError, match=r"task='classification' \(--task\) with several "
                                         r"targets takes columns of 0/1 or True/False, one "
                                         r"label each \(multilabel\); 'grade' holds 1, 2, 3\. "
                                         r"To classify a column of classes, run it alone"):
        steps.load_split(path, target=["grade", "tier"], task="classification")
    assert steps.load_split(path, target=["flag", "urgent"],
                            task="classification").task == "classification"


@pytest.mark.parametrize("storage", ["{missing}/study.db", "sqlite:///{missing}/study.db",
                                     "{missing}/study.log"])
def test_a_storage_in_a_missing_folder_is_refused_before_the_data_loads(tmp_path, storage):
    # review helper-62: `lepton run --storage /nonexistent/dir/x.db` loaded its data, said
    # how workers could join that storage, then failed to open it
    from lepton.steps import check_run_options

    missing = tmp_path / "no" / "such"
    given = storage.format(missing=missing)
    with pytest.raises(ValueError, match=rf"storage='{re.escape(given)}': the folder "
                                         rf"'{re.escape(str(missing))}' does not exist; create "
                                         r"it or give another path\."):
        check_run_options(storage=given)
    check_run_options(storage=storage.format(missing=tmp_path))  # an existing folder


def test_registration_missed_says_why_a_version_asked_for_is_not_there():
    """`lepton run --register` exits 1, and the scheduled flow run fails, with this reason
    (a table with a duration column registered nothing, with a warning only)."""
    from types import SimpleNamespace

    def model(**tracker):
        base = {"registered_model_name": "m", "registered_version": None,
                "tracking_errors": []}
        return SimpleNamespace(tracker_=SimpleNamespace(**{**base, **tracker}))

    failed = model(tracking_errors=[
        "MLflow tracking: log_epoch failed: OSError: disk full",
        "MLflow tracking: end_search (models) failed: TypeError: Object of type Decimal is "
        "not JSON serializable"])
    assert steps.registration_missed(failed) == (
        "no version was registered: MLflow tracking: end_search (models) failed: TypeError: "
        "Object of type Decimal is not JSON serializable")
    assert steps.registration_missed(model()) == (
        "no version was registered: the tracking's warnings above say why")
    assert steps.registration_missed(model(registered_version="3")) is None
    assert steps.registration_missed(model(registered_model_name=None)) is None
    assert steps.registration_missed(SimpleNamespace(tracker_=SimpleNamespace())) is None


def test_a_test_size_that_rounds_up_to_every_row_is_refused_with_its_reason(tmp_path):
    path = _dated_table(tmp_path)  # 80 rows
    with pytest.raises(ValueError, match=r"test_size=0\.99 holds out 80 of 80 rows; give a "
                                         r"fraction that leaves rows on both sides"):
        steps.load_split(str(path), target="y", time_column="step", test_size=0.99)
