"""A search tracked over HTTP by a real `mlflow server` on PostgreSQL (the team setup of
mlflow/start_team_server.sh), read back with MlflowClient."""

from __future__ import annotations

import numpy as np
import pytest

from lepton.tracking import MLflowTracker, make_tracker

from ._drive import drive_search, finish

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_search_over_http_on_postgres(team_server):
    import mlflow.pyfunc
    from mlflow.tracking import MlflowClient

    tracker = make_tracker(tracking_uri=team_server, experiment_name="team-iris",
                           registered_model_name="team-iris-nn")
    assert isinstance(tracker, MLflowTracker)
    tracker.strict = True
    study, best, X, y = drive_search(tracker, study_name="team", n_trials=3, prune_trial=1,
                                     epochs=3)
    finish(tracker, study, best, X, y)
    tracker.log_test_metrics({"accuracy": 0.91})

    client = MlflowClient(tracking_uri=team_server)
    exp = client.get_experiment_by_name("team-iris")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    parent = client.get_run(tracker.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["validation_score"] == pytest.approx(study.best_value)
    assert parent.data.metrics["test_accuracy"] == 0.91
    children = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    states = sorted((r.data.tags["lepton.trial_number"], r.info.status) for r in children)
    assert states == [("0", "FINISHED"), ("1", "KILLED"), ("2", "FINISHED")]
    for run in children:
        history = client.get_metric_history(run.info.run_id, "val_loss")
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == [1, 2, 3]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/optimization_history.png" in artifacts

    champion = client.get_model_version_by_alias("team-iris-nn", "champion")
    assert str(champion.version) == tracker.registered_version
    mlflow.set_tracking_uri(team_server)
    model = mlflow.pyfunc.load_model("models:/team-iris-nn@champion")
    np.testing.assert_array_equal(model.predict(X), best.predict(X))


def test_lepton_classifier_tracks_over_http(team_server, capfd):
    """The estimator itself (not hand-driven hooks) against the team server, quietly
    (MLflow printed two 'View run/experiment at: http://...' lines a trial)."""
    from mlflow.tracking import MlflowClient
    from sklearn.datasets import load_iris

    from lepton import LeptonClassifier

    X, y = load_iris(return_X_y=True)
    space = {"base": "mlp", "parameters": {"n_layers": 1, "width": 16, "epochs": 10,
                                           "batch_size": 16}}
    clf = LeptonClassifier(time_budget=90, n_trials=3, search_space=space, cv=None,
                           tracking_uri=team_server, experiment_name="team-search",
                           registered_model_name="team-search-nn", random_state=0).fit(X, y)
    client = MlflowClient(tracking_uri=team_server)
    parent = client.get_run(clf.tracking_run_id_)
    assert parent.data.tags["lepton.final_choice"] == clf.final_choice_
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(children) == len([t for t in clf.study_.trials if t.state.is_finished()]) >= 3
    champion = client.get_model_version_by_alias("team-search-nn", "champion")
    assert champion.run_id == parent.info.run_id
    out, err = capfd.readouterr()
    assert "View run" not in out + err and "View experiment" not in out + err
