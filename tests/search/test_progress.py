"""verbose=1: the search's progress (trials, best score, time left), on a terminal and in
a log."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import textwrap

import optuna
from sklearn.datasets import load_iris

from lepton import LeptonClassifier
from lepton.search import estimators as search_estimators
from lepton.search.budget import Budget
from lepton.search.metrics import get_metric

from .conftest import TINY_SPACE


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _study_with(values):
    study = optuna.create_study(direction="maximize")
    for v in values:
        trial = study.ask()
        study.tell(trial, v)
    return study


def test_log_gets_plain_lines_at_most_one_per_interval_plus_the_last(monkeypatch):
    monkeypatch.setattr(search_estimators, "PLAIN_PROGRESS_INTERVAL_S", 3600.0)
    out, budget = io.StringIO(), Budget(30)
    study = _study_with([0.5])
    with search_estimators._progress(1, budget, study, get_metric("accuracy", "classification"),
                                     file=out) as progress:
        progress(study, study.trials[-1])
        for v in (0.7, 0.6):
            study.tell(study.ask(), v)
            progress(study, study.trials[-1])
        assert out.getvalue().count("\n") == 1  # the first trial; the others within 1 h
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 2  # ... and the last one, when the search ends
    assert lines[0].startswith("lepton search: ") and "trials=1 best accuracy=0.5000" in lines[0]
    assert "trials=3 best accuracy=0.7000" in lines[1] and "left=" in lines[1]
    # the log says what the rest of the budget is for (the bar stops short of the budget)
    assert lines[1].endswith("s: the final model next")


def test_the_end_of_the_search_says_the_final_model_is_next_except_in_a_worker():
    metric = get_metric("accuracy", "classification")
    for final_model, file in ((True, io.StringIO()), (False, io.StringIO()),
                              (True, _Terminal()), (False, _Terminal())):
        study = _study_with([0.5])
        with search_estimators._progress(1, Budget(30), study, metric, file=file,
                                         final_model=final_model) as progress:
            progress(study, study.trials[-1])
            assert "final model" not in file.getvalue()
        assert ("the final model next" in file.getvalue()) == final_model, file.getvalue()
    study = _study_with([0.5])  # a search that raised (SIGTERM): nothing comes next
    out = io.StringIO()
    try:
        with search_estimators._progress(1, Budget(30), study, metric, file=out) as progress:
            progress(study, study.trials[-1])
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert "trials=1" in out.getvalue() and "final model" not in out.getvalue()


def test_terminal_bar_redraws_once_per_trial():
    out, budget = _Terminal(), Budget(30)
    study = _study_with([0.5])
    metric = get_metric("accuracy", "classification")
    with search_estimators._progress(1, budget, study, metric, file=out) as progress:
        before = out.getvalue().count("\r")
        for v in (0.6, 0.7, 0.65):
            study.tell(study.ask(), v)
            progress(study, study.trials[-1])
        redraws = out.getvalue().count("\r") - before
    assert redraws == 3  # was 6: setting the postfix redrew the bar, then refresh() again
    # tqdm puts ", " before the postfix: it read "0/30s , trials=4 ..." after a space of ours
    assert "/30s, trials=4 best accuracy=0.7000" in out.getvalue(), out.getvalue()


def test_verbose_fit_writes_progress_lines_to_a_log(capfd):
    X, y = load_iris(return_X_y=True)
    clf = LeptonClassifier(time_budget=20, n_trials=3, search_space=TINY_SPACE, cv=None,
                           random_state=0, verbose=1).fit(X, y)
    # the fourth warm-start entry never ran: it is neither a trial nor counted as one
    waiting = clf.study_.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1 and clf.n_trials_ == len(clf.leaderboard_) == 3
    captured = capfd.readouterr()  # not a terminal: plain lines
    progress = [line for line in captured.err.splitlines() if line.startswith("lepton search:")]
    assert progress and "\r" not in captured.err
    assert "trials=3 best accuracy=" in progress[-1]
    assert "[LeptonClassifier] 3 trials, best accuracy=" in captured.out
    # an ensemble's members and its own score (the best trial's is not the final model's)
    info = clf.final_model_info_
    assert (f"final=ensemble of trials {', '.join(map(str, info['ensemble_trials']))} "
            f"(validation accuracy={info['validation_score']:.4f}), "
            if clf.final_choice_ == "ensemble" else f"final={clf.final_choice_}, ") \
        in captured.out


def test_a_terminal_of_no_width_gets_plain_lines():
    # a pty nobody sized (`script` or `ssh -t` without a terminal, some CI runners) reports
    # 0 columns, where tqdm drew its bar as nothing but carriage returns
    import os
    import struct
    import termios
    from fcntl import ioctl

    main_fd, side_fd = os.openpty()
    try:
        with open(side_fd, "w", closefd=False) as tty:
            study, budget = _study_with([0.5]), Budget(30)
            metric = get_metric("accuracy", "classification")
            assert os.get_terminal_size(side_fd).columns == 0
            assert not search_estimators._interactive(tty)
            with search_estimators._progress(1, budget, study, metric, file=tty) as progress:
                progress(study, study.trials[-1])
            written = os.read(main_fd, 4096).decode()
            assert "lepton search: " in written and "trials=1 best accuracy=0.5000" in written
            # the same terminal, once sized, redraws a bar in place
            ioctl(side_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
            assert search_estimators._interactive(tty)
    finally:
        os.close(main_fd)
        os.close(side_fd)


class _Closes:
    """tqdm.auto's bar, recording (n, total) where it closes: a notebook's widget paints a
    bar closed with n < total red, as it does an error or Ctrl-C."""

    def __init__(self):
        from tqdm import tqdm

        self.closed = closed = []

        class Recorded(tqdm):
            def close(self):
                if not self.disable:  # closed once (close again, from __del__, is a no-op)
                    closed.append((self.n, self.total))
                super().close()

        self.cls = Recorded


def test_a_search_that_ended_leaves_its_bar_full_and_one_cut_by_an_error_short(
        monkeypatch):
    # review helper-60: every successful fit left a red bar in a notebook, the search
    # ending short of the budget by design (the final model's reserve, n_trials)
    import tqdm.auto

    metric = get_metric("accuracy", "classification")
    closes = _Closes()
    monkeypatch.setattr(tqdm.auto, "tqdm", closes.cls)
    out = _Terminal()
    study = _study_with([0.5])
    with search_estimators._progress(1, Budget(30), study, metric, file=out) as progress:
        progress(study, study.trials[-1])
    assert closes.closed == [(30, 30)]
    # full, but the seconds shown are the search's own, not the budget's
    last = out.getvalue().split("\r")[-1]
    assert "100%" in last and "| 0/30s, trials=1 best accuracy=0.5000" in last, last
    assert last.rstrip().endswith("the final model next"), last
    try:
        with search_estimators._progress(1, Budget(30), study, metric,
                                         file=_Terminal()) as progress:
            raise RuntimeError("a failed search")
    except RuntimeError:
        pass
    assert closes.closed[1][0] < closes.closed[1][1] == 30  # short: red, as for an error


PTY_FIT = textwrap.dedent("""
    import fcntl, os, pty, struct, subprocess, sys, termios
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    code = ("from sklearn.datasets import load_iris; from lepton import LeptonClassifier; "
            "X, y = load_iris(return_X_y=True); "
            "LeptonClassifier(time_budget=30, n_trials=3, search_space=%r, cv=None, "
            "random_state=0, verbose=2).fit(X, y)")
    proc = subprocess.Popen([sys.executable, "-c", code % (eval(sys.argv[1]),)],
                            stdin=child, stdout=child, stderr=child, close_fds=True)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait()
    sys.stdout.write(b"".join(chunks).decode(errors="replace"))
    sys.exit(proc.returncode)
""")


def test_optunas_trial_log_on_a_terminal_is_written_above_the_bar_not_after_it():
    # verbose=2 on a terminal: each of Optuna's log lines followed a stale copy of the bar
    # ("...| 4/8s, trials=1 best accuracy=0.9736 left=4s[I 2026-...] Trial 1 finished");
    # review helper-60
    out = subprocess.run([sys.executable, "-c", PTY_FIT, repr(TINY_SPACE)],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "LEPTON_HOME": os.environ.get("LEPTON_HOME", "")}
                         if os.environ.get("LEPTON_HOME") else None)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    segments = [seg for line in out.stdout.split("\n") for seg in line.split("\r")]
    logged = [seg for seg in segments if re.search(r"Trial \d+ finished", seg)]
    assert len(logged) >= 3, out.stdout[-3000:]  # three trials finished, each logged
    assert not [seg for seg in logged if "lepton search" in seg], logged
    assert any("lepton search: 100%" in seg for seg in segments), out.stdout[-3000:]


def test_optunas_log_is_left_alone_where_it_does_not_go_to_the_console():
    # review helper-66: the redirect added a console handler where the user had removed
    # Optuna's (to log to a file or through the root logger): its lines came on stderr too
    import logging

    metric = get_metric("accuracy", "classification")
    log = logging.getLogger("optuna")
    saved = list(log.handlers)
    try:
        log.handlers = [logging.NullHandler()]
        study = _study_with([0.5])
        with search_estimators._progress(1, Budget(30), study, metric, file=_Terminal()):
            assert log.handlers[0].__class__ is logging.NullHandler and len(log.handlers) == 1
        assert log.handlers[0].__class__ is logging.NullHandler
    finally:
        log.handlers = saved


def test_a_notebook_without_ipywidgets_gets_no_tqdm_warning():
    """tqdm.auto warned 'IProgress not found. Please update jupyter and ipywidgets' at the
    first verbose fit in a notebook without them (review helper-77); its text bar follows
    quietly. A kernel is emulated the way tqdm detects one."""
    import importlib.util

    import pytest

    if importlib.util.find_spec("ipywidgets") is not None:
        pytest.skip("ipywidgets is installed: tqdm draws its widget, and warns of nothing")
    code = textwrap.dedent("""
        import sys, types, warnings
        class ZMQInteractiveShell: pass
        kernel, shell = types.ModuleType("ipykernel"), types.ModuleType("ipykernel.zmqshell")
        ipython = types.ModuleType("IPython")
        ipython.get_ipython = lambda: ZMQInteractiveShell()
        sys.modules.update({"ipykernel": kernel, "ipykernel.zmqshell": shell,
                            "IPython": ipython})
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")  # ("error" is caught by tqdm's own fallback)
            from lepton.search.estimators import _interactive  # Optuna imports tqdm.auto
            print(_interactive(sys.stdout), [str(w.message) for w in said])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False []", out.stdout + out.stderr
