"""Behaviour classifiers: training with progress, predictions as a feature, safe model files."""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest

from unit.features._features import NoseX
from w2t_bkin.errors import OutputError
from w2t_bkin.features.dataset import FeatureDataset
from w2t_bkin.features.errors import FeatureInputError, UntrustedModelError
from w2t_bkin.features.identity import Result
from w2t_bkin.features.models import (
    TRUST_ENV,
    BehaviorClassifier,
    BehaviorPredict,
    dump_model,
    import_labels,
    load_model,
    read_progress,
    train_model,
)
from w2t_bkin.features.run import run_feature

N_FRAMES = 40


@pytest.fixture
def labelled(tmp_path: Path) -> Iterator[tuple[FeatureDataset, Result, Result, dict]]:
    """Four tracks: x = 0 px while 'rest', x = 10 px while 'run' (alternating 10-frame bouts)."""
    ds = FeatureDataset(tmp_path / "d")
    truth = {}
    for s in range(4):
        labels = np.where((np.arange(N_FRAMES) // 10) % 2 == 0, "rest", "run")
        truth[("m", f"s{s}/top/mouse")] = (np.arange(N_FRAMES), labels)
    # nose x is 10 px (plus a small ripple) on 'run' frames and 0 px on 'rest' frames
    for (group, sequence), (frames, labels) in truth.items():
        session = sequence.split("/")[0]
        t_s = frames / 10.0
        positions = np.zeros((N_FRAMES, 2, 2), np.float32)
        positions[:, 0, 0] = np.where(labels == "run", 10.0, 0.0) + 0.1 * (frames % 3)
        ds.add_track(
            subject=group,
            session=session,
            camera="top",
            individual="mouse",
            t_s=t_s,
            positions=positions,
            confidence=None,
            keypoints=["nose", "tail"],
        )
    features = run_feature(ds, NoseX())
    labels_result = import_labels(ds, "annotator", truth)
    yield ds, features, labels_result, truth
    ds.close()


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_phase(self, phase: str, message: str = "") -> None:
        self.events.append(("phase", phase))

    def on_epoch_end(self, epoch: int, total: int, metrics: Mapping[str, float]) -> None:
        self.events.append(("epoch", epoch, total, sorted(metrics)))

    def on_class_start(self, index: int, total: int, name: str) -> None:
        self.events.append(("class", index, total, name))

    def on_entry_start(self, index: int, total: int, key: str) -> None:
        self.events.append(("entry_start", index))

    def on_entry_end(self, index: int, total: int, key: str) -> None:
        self.events.append(("entry_end", index))


@pytest.mark.parametrize("estimator", ["random_forest", "logistic"])
@pytest.mark.parametrize("strategy", ["multiclass", "one_vs_rest"])
def test_every_trainer_reports_progress_and_predicts(
    labelled, strategy: str, estimator: str
) -> None:
    ds, features, labels, truth = labelled
    recorder = Recorder()
    config = {
        "strategy": strategy,
        "estimator": estimator,
        "n_estimators": 6,
        "n_epochs": 3,
        "test_fraction": 0.25,
    }
    run_id = train_model(
        ds, BehaviorClassifier, config, inputs=[features], labels=labels, progress=recorder
    )
    epochs = [e for e in recorder.events if e[0] == "epoch"]
    n_models = 1 if strategy == "multiclass" else 2
    assert [e[1] for e in epochs] == [1, 2, 3] * n_models
    assert epochs[0][3] == ["test_accuracy", "train_accuracy"]
    classes = [e for e in recorder.events if e[0] == "class"]
    assert classes == (
        [] if strategy == "multiclass" else [("class", 0, 2, "rest"), ("class", 1, 2, "run")]
    )
    stored = read_progress(ds.registry_path, run_id)
    assert [e["kind"] for e in stored].count("epoch") == 3 * n_models
    assert [e["name"] for e in stored if e["kind"] == "phase"] == ["fit", "load", "train", "done"]
    prediction = run_feature(
        ds,
        BehaviorPredict(
            {"model": Result(feature="behavior-classifier", run_id=run_id)}, inputs=[features]
        ),
    )
    frame = ds.load_feature(prediction, "m", "s1/top/mouse")
    assert frame is not None
    np.testing.assert_array_equal(frame["predicted_label"], truth[("m", "s1/top/mouse")][1])
    probabilities = frame[["prob/rest", "prob/run"]].to_numpy()
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    if strategy == "multiclass":  # one model: the class probabilities sum to one
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    report = json.loads(
        (ds.run_dir("behavior-classifier", run_id) / "artifacts" / "report.json").read_text()
    )
    assert report["accuracy"] == 1.0
    lineage = ds.registry.lineage("behavior-predict", prediction.run_id)
    model_node = next(n for n in lineage["upstream"] if n["feature"] == "behavior-classifier")
    assert {n["feature"] for n in model_node["upstream"]} == {"labels", "nose-x"}


def test_train_model_returns_the_same_run_id_for_the_same_config(labelled) -> None:
    ds, features, labels, _ = labelled
    config = {"n_estimators": 4, "n_epochs": 2}
    first = train_model(ds, "behavior-classifier", config, inputs=[features], labels=labels)
    again = train_model(
        ds, "behavior-classifier", {**config, "n_jobs": 2}, inputs=[features], labels=labels
    )
    assert first == again  # n_jobs is a throughput knob
    assert (
        train_model(ds, BehaviorClassifier, {**config, "seed": 1}, inputs=[features], labels=labels)
        != first
    )


def test_progress_is_readable_while_training(labelled) -> None:
    ds, features, labels, _ = labelled
    seen: list[int] = []

    class Peek(Recorder):
        def on_epoch_end(self, epoch: int, total: int, metrics: Mapping[str, float]) -> None:
            rows = read_progress(ds.registry_path, self.job_id)  # another connection
            seen.append(sum(e["kind"] == "epoch" for e in rows))

    from w2t_bkin.features.run import plan_run

    peek = Peek()
    feature = BehaviorClassifier({"n_estimators": 3, "n_epochs": 3}, inputs=[features, labels])
    peek.job_id = plan_run(ds, feature).run_id  # type: ignore[attr-defined]
    train_model(
        ds,
        BehaviorClassifier,
        {"n_estimators": 3, "n_epochs": 3},
        inputs=[features],
        labels=labels,
        progress=peek,
    )
    assert seen == [1, 2, 3]  # each epoch's event is committed before the next one starts


def test_classifier_needs_exactly_one_labels_input(labelled) -> None:
    _, features, _, _ = labelled
    with pytest.raises(FeatureInputError, match="exactly one 'labels' run"):
        BehaviorClassifier({}, inputs=[features])


def test_labels_must_name_tracks_of_the_dataset(labelled) -> None:
    ds, _, _, _ = labelled
    with pytest.raises(FeatureInputError, match="not a track"):
        import_labels(ds, "x", {("m", "nope/top/mouse"): (np.arange(2), ["a", "b"])})


def test_model_files_are_written_atomically(tmp_path: Path) -> None:
    from sklearn.linear_model import SGDClassifier

    path = tmp_path / "model.skops"
    model = SGDClassifier(loss="log_loss").fit(np.array([[0.0], [1.0]]), ["a", "b"])
    dump_model(path, {"estimators": [model]})
    before = path.read_bytes()
    with pytest.raises(TypeError, match="cannot pickle 'generator'"):
        dump_model(path, {"estimators": [x for x in ()], "state": (x for x in ())})
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot create a file"):
        dump_model(blocker / "model.skops", model)
    assert path.read_bytes() == before  # the old model is intact
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert load_model(path)["estimators"][0].predict([[1.0]]).tolist() == ["b"]


def test_no_pickle_on_shared_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.preprocessing import FunctionTransformer

    # a pickle renamed to .skops is refused, never unpickled
    pickled = tmp_path / "pickled.skops"
    pickled.write_bytes(pickle.dumps({"estimators": []}))
    with pytest.raises(UntrustedModelError, match="not a skops model archive"):
        load_model(pickled)
    # a skops file naming a foreign type (here numpy.round via FunctionTransformer) is refused
    foreign = tmp_path / "foreign.skops"
    dump_model(foreign, FunctionTransformer(np.round))
    with pytest.raises(UntrustedModelError, match="outside the trusted set") as info:
        load_model(foreign)
    assert TRUST_ENV in (info.value.hint or "")
    assert info.value.exit_code == 10
    # ... unless the user opts in
    assert load_model(foreign, trust=True).func is np.round
    monkeypatch.setenv(TRUST_ENV, "1")
    assert load_model(foreign).func is np.round
    monkeypatch.delenv(TRUST_ENV)
    # our own forests load without opting in
    forest = tmp_path / "forest.skops"
    # bootstrap off and a seed: a 2-tree forest on 2 samples must not depend on the draw
    fitted = RandomForestClassifier(n_estimators=2, bootstrap=False, random_state=0).fit(
        [[0.0], [1.0]], ["a", "b"]
    )
    dump_model(forest, fitted)
    assert load_model(forest).predict([[0.0], [1.0]]).tolist() == ["a", "b"]
    assert zipfile.is_zipfile(forest)


def test_feature_package_never_unpickles() -> None:
    import w2t_bkin.features as package

    root = Path(package.__file__).parent
    sources = [
        p for p in root.rglob("*.py") if "library" not in p.parts and "sampling" not in p.parts
    ]
    text = "\n".join(p.read_text() for p in sources)
    for forbidden in ("pickle.load", "allow_pickle=True", "joblib.load", "np.load("):
        assert forbidden not in text
