"""A journal file study on a disk that fills mid-search (review helper-87): Optuna's
append kept the half record a failed write left, the next append (a resume, once space was
freed) glued its record to it, and every later read of the study raised JSONDecodeError.
A real full disk needs root (a small tmpfs); a file size limit (RLIMIT_FSIZE) fails the
same writes the same way, part-written, with EFBIG, in a child process."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import optuna
import pytest
from sklearn.datasets import load_wine

from lepton import LeptonClassifier
from lepton.search import StorageError
from lepton.search._search import make_storage

FILLED_SCRIPT = textwrap.dedent("""
    import resource, signal, sys
    from sklearn.datasets import load_wine
    from lepton import LeptonClassifier
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
    limit = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    X, y = load_wine(return_X_y=True)
    LeptonClassifier(time_budget=60, storage=sys.argv[1], study_name="filled", cv=None,
                     random_state=0, verbose=0).fit(X, y)
""")

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _finished(path: str, name: str) -> set[int]:
    study = optuna.load_study(study_name=name, storage=make_storage(path))
    return {t.number for t in study.get_trials(deepcopy=False, states=FINISHED)}


def test_a_journal_on_a_disk_that_fills_stays_readable_and_resumes(tmp_path):
    journal = str(tmp_path / "study.log")
    filled = subprocess.run([sys.executable, "-c", FILLED_SCRIPT, journal, "40000"],
                            capture_output=True, text=True, timeout=180)
    assert filled.returncode != 0
    said = filled.stderr.strip().splitlines()[-1]  # Optuna's "Should not reach." before
    assert "StorageError: the study's storage could not be written mid-search" in said, said
    assert repr(journal) in said and "free space on the disk" in said
    with open(journal, "rb") as f:
        assert f.read().endswith(b"\n")  # whole records only: the failed one was cut
    before = _finished(journal, "filled")
    assert before  # the limit let some trials finish first

    X, y = load_wine(return_X_y=True)  # space freed: the search resumes
    model = LeptonClassifier(time_budget=8, storage=journal, study_name="filled", cv=None,
                             random_state=0, verbose=0).fit(X, y)
    after = _finished(journal, "filled")
    assert before < after and model.score(X, y) > 0.5


def test_a_torn_end_is_cut_before_the_next_append(tmp_path):
    """A writer killed mid-append leaves bytes after the last newline: no reader takes them
    as a record, and the next append starts on a line of its own."""
    journal = str(tmp_path / "study.log")
    study = optuna.create_study(study_name="torn", storage=make_storage(journal))
    study.enqueue_trial({"x": 1.0})
    with open(journal, "ab") as f:
        f.write(b'{"op_code":6,"worker_id":"w","trial_id":0,"state":1,"values":[0.')
    study = optuna.load_study(study_name="torn", storage=make_storage(journal))
    study.optimize(lambda t: t.suggest_float("x", 0, 2), n_trials=2)
    again = optuna.load_study(study_name="torn", storage=make_storage(journal))
    assert [t.state for t in again.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert again.trials[0].params == {"x": 1.0}


def _glued(journal: str) -> None:
    """A journal as Optuna's own appends left it: a record half written, then the next
    append's record after it on the same line."""
    from optuna.storages.journal import JournalFileBackend

    study = optuna.create_study(study_name="glued",
                                storage=optuna.storages.JournalStorage(JournalFileBackend(journal)))
    study.optimize(lambda t: t.suggest_float("x", 0, 2), n_trials=2)
    study.enqueue_trial({"x": 0.5})
    with open(journal, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    with open(journal, "wb") as f:  # the last record cut at its middle, as ENOSPC left it
        f.write(b"".join(lines[:-1]) + lines[-1][:len(lines[-1]) // 2])
    with open(journal, "ab") as f:  # the resume's appends, the first glued to it
        for name in ("other", "third"):
            f.write(json.dumps({"op_code": 0, "worker_id": "w", "study_name": name,
                                "directions": [1]}, separators=(",", ":")).encode() + b"\n")


def test_a_journal_with_a_record_glued_to_a_torn_one_is_mended(tmp_path, caplog):
    journal = str(tmp_path / "study.log")
    _glued(journal)
    with pytest.raises(json.JSONDecodeError):  # what Optuna says of it: nothing readable
        optuna.load_study(study_name="glued", storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(journal)))
    with caplog.at_level(logging.WARNING, logger="lepton.search"):
        storage = make_storage(journal)
    study = optuna.load_study(study_name="glued", storage=storage)
    assert len(study.get_trials(states=FINISHED)) == 2  # the finished trials are all there
    names = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    assert names == {"glued", "other", "third"}
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("study.log.damaged-")]
    assert len(kept) == 1 and any(str(kept[0]) in r.getMessage() for r in caplog.records)
    study.optimize(lambda t: t.suggest_float("x", 0, 2), n_trials=1)  # and it takes more
    assert len(_finished(journal, "glued")) == 3
    # another process that found it damaged, and mends after this one: it reads it again
    # under the lock, whole, and leaves it and the copy be (it overwrote the copy of the
    # damaged file with the mended one; review helper-93)
    from lepton.search._search import _mend_journal

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lepton.search"):
        _mend_journal(journal, storage._backend, json.JSONDecodeError("x", "{", 0))
    assert not caplog.records
    assert [p for p in tmp_path.iterdir() if p.name.startswith("study.log.damaged-")] == kept


def test_other_damage_to_a_journal_is_named_not_mended(tmp_path):
    journal = str(tmp_path / "study.log")
    _glued(journal)
    with open(journal, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    lines[1] = b"not a record at all\n"
    with open(journal, "wb") as f:
        f.write(b"".join(lines))
    with pytest.raises(StorageError, match=rf"the journal file {journal} cannot be read: its "
                                           r"line 2 is damaged .*Restore the file"):
        make_storage(journal)
    assert not [p for p in tmp_path.iterdir() if ".damaged-" in p.name]


def test_a_sqlite_study_on_a_full_disk_is_said_as_a_disk_not_a_dead_server():
    """SQLite's 'database or disk is full' was said as a server that stopped answering."""
    import sqlalchemy.exc

    from lepton.search._search import _storage_stopped

    full = sqlalchemy.exc.OperationalError("UPDATE trials ...", {},
                                           Exception("database or disk is full"))
    said = str(_storage_stopped(full))
    assert said.startswith("the study's storage could not be written mid-search")
    assert "free space on the disk" in said
    gone = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the "
                                                                    "connection"))
    assert str(_storage_stopped(gone)).startswith("the study's storage stopped answering")


def test_a_study_file_that_could_not_be_created_is_not_left_empty(tmp_path, monkeypatch):
    """A new SQLite study on a full disk left an empty file behind (review helper-87); the
    error said to check the folder, not the disk."""
    import sqlalchemy.exc

    from lepton.search import _search

    def full(text):
        open(_search._study_file(text), "ab").close()  # SQLite creates the file first
        raise sqlalchemy.exc.OperationalError("CREATE TABLE studies", {},
                                              Exception("database or disk is full"))

    monkeypatch.setattr(_search, "_open_storage", full)
    for given in (str(tmp_path / "new.db"), f"sqlite:///{tmp_path / 'other.sqlite'}"):
        with pytest.raises(StorageError, match=r"cannot be opened: database or disk is full\. "
                                               r"Check that the disk that holds it has free"):
            make_storage(given)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept.db").write_bytes(b"")  # there before: not this call's to remove
    with pytest.raises(StorageError):
        make_storage(str(tmp_path / "kept.db"))
    assert (tmp_path / "kept.db").exists()


def test_a_reader_that_met_a_torn_end_as_it_was_cut_reads_again(tmp_path, monkeypatch):
    """Another process's read, without the lock, whose buffer ended inside a torn end as an
    append cut it and wrote after it, joined the torn bytes to the new records and raised
    JSONDecodeError (review helper-93, with Optuna's reader and a 64-byte buffer): the read
    goes on from that line, which holds whole records by then."""
    from optuna.storages.journal import JournalFileBackend

    from lepton.search._search import _journal_lock, _WholeRecordJournal

    path = str(tmp_path / "study.log")
    study = optuna.create_study(study_name="r", storage=make_storage(path))
    study.optimize(lambda t: t.suggest_float("a", 0, 1), n_trials=3)
    everything = list(JournalFileBackend(path).read_logs(0))
    read_logs, raced = JournalFileBackend.read_logs, []

    def racing(self, log_number_from):  # the glued line met after 4 records, once
        for number, record in enumerate(read_logs(self, log_number_from)):
            if not raced and number == 4:
                raced.append(log_number_from + number)
                raise json.JSONDecodeError("Expecting ',' delimiter", "{...}", 64)
            yield record

    monkeypatch.setattr(JournalFileBackend, "read_logs", racing)
    read = list(_WholeRecordJournal(path, _journal_lock(path)).read_logs(0))
    assert raced == [4] and read == everything
