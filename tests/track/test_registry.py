"""Registry: register, list, show, promote with the mAP gate; the resolver behind
`--model NAME@ALIAS`; unknown runs, models, versions and aliases."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from yolops.detector import Detector
from yolops.errors import ModelError, PromotionRefused, TrackingError
from yolops.track.registry import describe, list_models, promote, register_model
from yolops.track.resolve import is_reference, load_model, resolve_model
from yolops.track.store import model_version
from yolops.track.tracking import GATE_METRIC, log_run_folder

from track_support import new_workspace


@pytest.fixture(scope="module")
def registry(tmp_path_factory, mlflow_template, trained_run):
    """A workspace with two logged runs of the same training: (workspace, [run ids])."""
    root = tmp_path_factory.mktemp("registry")
    ws = new_workspace(root / "ws", mlflow_template)
    run_ids = []
    for i in range(2):
        copy = root / f"run{i}"
        shutil.copytree(trained_run, copy)
        run_ids.append(log_run_folder(ws, copy))
    return ws, run_ids


def _set_score(ws, run_id: str, value: float) -> None:
    ws.client().log_metric(run_id, GATE_METRIC, value, step=99)


def test_register_list_show(registry, trained_run):
    from yolops.model.checkpoint import load_checkpoint

    ws, (run_a, run_b) = registry
    v1 = register_model(ws, run_a, "shapes")
    v2 = register_model(ws, run_b, "shapes")
    assert (str(v1.version), str(v2.version)) == ("1", "2")
    rows = list_models(ws)
    assert [(r["name"], r["versions"], r["latest"]) for r in rows] == [("shapes", 2, "2")]
    shown = describe(ws, "shapes/1")
    assert shown["run_id"] == run_a and shown["registered_by"] and shown["registered_at"]
    best = load_checkpoint(trained_run / "weights" / "best.pt")
    assert GATE_METRIC in shown["metrics"]
    assert shown["lineage"]["dataset.name"] == best["dataset"]
    assert shown["lineage"]["dataset.hash"] == best["dataset_hash"]
    assert describe(ws, "shapes")["version"] == "2"  # no version: the latest


def test_promotion_is_gated_on_val_map_of_the_same_dataset(registry):
    ws, (run_a, run_b) = registry
    _set_score(ws, run_a, 0.50)
    _set_score(ws, run_b, 0.40)
    first = promote(ws, "shapes", "1", "production")
    assert first.previous is None and "no version held" in first.reason
    with pytest.raises(PromotionRefused, match=r"0\.4000 is below 0\.5000 of version 1.*--force"):
        promote(ws, "shapes", "2", "production")
    assert str(model_version(ws, "shapes@production").version) == "1"  # unchanged
    forced = promote(ws, "shapes", "2", "production", force=True)
    assert forced.previous == "1" and forced.reason.startswith("forced")
    assert str(model_version(ws, "shapes@production").version) == "2"
    _set_score(ws, run_a, 0.60)  # a better candidate passes the gate
    better = promote(ws, "shapes", "1", "production")
    assert better.previous == "2" and ">=" in better.reason
    assert "promoted.production" in "".join(describe(ws, "shapes/1")["promotions"])


def test_gate_does_not_compare_scores_on_different_datasets(registry):
    ws, (run_a, run_b) = registry
    promote(ws, "shapes", "1", "candidate-holder")
    _set_score(ws, run_a, 0.9)
    _set_score(ws, run_b, 0.1)
    ws.client().set_tag(run_b, "dataset.hash", "another-dataset")
    try:
        p = promote(ws, "shapes", "2", "candidate-holder")
        assert "not compared" in p.reason
    finally:
        run_a_hash = ws.client().get_run(run_a).data.tags["dataset.hash"]
        ws.client().set_tag(run_b, "dataset.hash", run_a_hash)


def test_resolver_loads_aliases_versions_runs_and_paths(registry, trained_run):
    ws, (run_a, _) = registry
    promote(ws, "shapes", "1", "production", force=True)
    import numpy as np

    image = np.full((64, 96, 3), 120, np.uint8)
    for ref in ("shapes@production", "models:/shapes@production", "shapes/2", f"runs:/{run_a}"):
        det = Detector(ref, workspace=ws)
        assert det.source.suffix == ".onnx" and det.source.is_relative_to(ws.root), ref
        assert det.class_names == ("circle", "square", "triangle")
        assert len(det.predict(image)) == 1
    torch_det = Detector("shapes/1", backend="torch", workspace=ws)
    assert torch_det.source.name == "best.pt"
    path = trained_run / "weights" / "best.pt"
    assert resolve_model(path, ws) == path and not is_reference(path)
    # The one loader behind every surface: a file or any reference to a predictor.
    for ref, kind in ((path, "OnnxPredictor"), ("shapes/1", "OnnxPredictor")):
        predictor = load_model(ref, ws, threads=1)
        assert type(predictor).__name__ == kind and predictor.class_names == det.class_names
    assert type(load_model("shapes/1", ws, backend="torch")).__name__ == "TorchPredictor"
    assert (
        is_reference("shapes@production")
        and is_reference("shapes/3")
        and is_reference(f"runs:/{run_a}")
    )


def test_unknown_run_model_version_and_alias_are_named(registry):
    ws, _ = registry
    with pytest.raises(TrackingError, match="no run 'feedface'"):
        register_model(ws, "feedface", "shapes")
    with pytest.raises(TrackingError, match="no registered model 'nope'"):
        Detector("nope@production", workspace=ws)
    with pytest.raises(TrackingError, match=r"no version 99 \(its versions: 1, 2"):
        Detector("shapes/99", workspace=ws)
    with pytest.raises(TrackingError, match="no alias 'staging'.*production -> "):
        Detector("shapes@staging", workspace=ws)
    with pytest.raises(TrackingError, match="no run 'feedface'"):
        Detector("runs:/feedface", workspace=ws)
    with pytest.raises(PromotionRefused.__mro__[1], match="no version 7"):
        promote(ws, "shapes", "7")


def test_alias_that_points_nowhere(registry, trained_run, tmp_path):
    """An alias whose version was deleted is gone (a clear error names it); an alias
    whose version's files were removed says which files cannot be read."""
    ws, _ = registry
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    run_id = log_run_folder(ws, copy)
    mv = register_model(
        ws, run_id, "fragile", reference=False
    )  # a reference would fetch the graph into the cache
    promote(ws, "fragile", mv.version, "staging")
    doomed = register_model(ws, run_id, "fragile")
    promote(ws, "fragile", doomed.version, "canary")
    ws.client().delete_model_version("fragile", doomed.version)
    with pytest.raises(TrackingError, match="no alias 'canary'"):
        Detector("fragile@canary", workspace=ws)
    model_id = ws.client().get_run(run_id).data.tags["yolops.model_id"]
    model_dir = Path(
        ws.client().get_logged_model(model_id).artifact_location.removeprefix("file://")
    )
    shutil.rmtree(model_dir)
    with pytest.raises(
        ModelError, match=r"model fragile version 1 \(fragile@staging\).*can be read"
    ):
        Detector("fragile@staging", workspace=ws)
    assert not (ws.model_cache / "fragile" / "1" / "model").exists()  # nothing half-downloaded kept


def test_register_refuses_a_run_without_a_model(registry):
    ws, _ = registry

    client = ws.client()
    exp = client.get_experiment_by_name("yolops")
    bare = client.create_run(exp.experiment_id).info.run_id
    with pytest.raises(TrackingError, match=f"run {bare} has no logged model"):
        register_model(ws, bare, "shapes")
    with pytest.raises(TrackingError, match="model name 'bad name'"):
        register_model(ws, bare, "bad name")


def test_a_relative_data_path_is_stored_resolved_and_read_back_from_anywhere(
    registry, trained_run, shapes_yaml, tmp_path, monkeypatch
):
    """Issue 16, item 3: a training given a relative --data; registering it (which builds
    the reference statistics from the run's dataset) from another folder."""
    import yaml

    from yolops.track.reference import attach_reference, load_reference

    ws, _ = registry
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    monkeypatch.chdir(shapes_yaml.parent.parent)
    config["data"] = str(shapes_yaml.relative_to(shapes_yaml.parent.parent))
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    run_id = log_run_folder(ws, copy)  # the training's folder: the relative path exists here
    run = ws.client().get_run(run_id)
    assert run.data.tags["dataset.source"] == str(shapes_yaml.resolve())
    (used,) = run.inputs.dataset_inputs
    assert str(shapes_yaml.resolve()) in used.dataset.source

    monkeypatch.chdir(tmp_path)  # another folder
    mv = register_model(ws, run_id, "moved", reference=False)
    attach_reference(ws, f"moved/{mv.version}")
    assert load_reference(ws, f"moved/{mv.version}").num_images == 12


def test_a_dataset_version_is_stored_as_its_exact_reference(tmp_path):
    from yolops.track.lineage import dataset_source

    assert dataset_source("shapes", "shapes@v3", "/somewhere") == "shapes@v3"
    (tmp_path / "sub").mkdir()
    (tmp_path / "d.yaml").write_text("x")
    assert dataset_source(tmp_path / "sub" / ".." / "d.yaml") == str(tmp_path / "d.yaml")
    assert dataset_source("", "", tmp_path) == str(tmp_path)
    assert dataset_source("not/here.yaml") == "not/here.yaml"
