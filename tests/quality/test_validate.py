"""validate_dataset: every planted defect found, the gate's exit codes, the hooks."""

from __future__ import annotations

import json

import pytest

from yolops.data.dataset import load_dataset
from yolops.errors import ConfigError
from yolops.issues import Issue, IssueLog, Severity
from yolops.quality.plant import CHECK_KINDS, DEMO_KINDS, DETECTED_BY, plant_and_validate, recall
from yolops.quality.schema import infer_schema
from yolops.quality.validate import QualityConfig, validate_dataset


@pytest.fixture(scope="module")
def report(planted):
    return validate_dataset(planted[0])


def test_every_planted_defect_is_found(planted, report):
    """Recall per planted kind, 3 of each: the floor is all of them."""
    _, truth = planted
    found = recall(truth, report.issues)
    assert found == {kind: (3, 3) for kind in CHECK_KINDS}


def test_no_errors_or_warnings_on_untouched_images(planted, report):
    _, truth = planted
    touched = {d.image_id for d in truth} | {
        d.detail.split("'")[1] for d in truth if d.detail.startswith("copy of")
    }
    stray = [
        i
        for i in report.at_least("warning")
        if i.image_id is not None and i.image_id not in touched
    ]
    assert stray == []


def test_the_gate_exit_codes(report, annotations):
    assert report.counts_by_severity()["error"] > 0
    assert (
        report.exit_code("error") == 1
        and report.exit_code("warning") == 1
        and report.exit_code() == 1
    )
    assert report.exit_code("never") == 0
    with pytest.raises(ValueError, match="fail_on"):
        report.exit_code("sometimes")
    clean = validate_dataset(
        annotations(
            {"a": [(10, 10, 40, 40, 0)], "b": [(20, 20, 50, 60, 1)]}, class_names=("a", "b")
        ),
        config=QualityConfig(read_images=False),
    )
    assert clean.counts_by_severity() == {"error": 0, "warning": 0, "info": 0}
    assert clean.exit_code("info") == 0
    noted = validate_dataset(
        annotations({"a": [(10, 10, 40, 40, 0)], "b": []}, class_names=("a",)),
        config=QualityConfig(read_images=False),
    )
    # image_no_boxes: a background image is a note, so a gate on warnings passes
    assert noted.exit_code("warning") == 0 and noted.exit_code("info") == 1


def test_issues_are_sorted_worst_first_and_the_report_is_json_ready(report):
    ranks = [i.severity.rank for i in report.issues]
    assert ranks == sorted(ranks, reverse=True)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["counts_by_severity"] == report.counts_by_severity()
    assert len(data["issues"]) == len(report.issues) and data["images"] == len(report.dataset)
    assert set(data["seconds"]) == {"read images", "checks", "drift", "extra checks"}
    assert data["schema_source"] == "inferred" and data["drift"] is None
    assert len(data["image_stats"]) == sum(1 for r in report.dataset if r.id in report.image_stats)


def test_annotations_only_reads_no_pixel(planted):
    ds, truth = planted
    report = validate_dataset(ds, config=QualityConfig(read_images=False))
    assert report.image_stats == {}
    found = recall(truth, report.issues)
    image_kinds = [k for k in CHECK_KINDS if DETECTED_BY[k][0].startswith(("image_", "split_"))]
    assert all(found[k][0] == 0 for k in image_kinds if k != "unlabelled_image")
    assert found["degenerate_box"] == (3, 3) and found["duplicate_box"] == (3, 3)


def test_against_a_reference_infers_its_schema_and_measures_drift(shapes):
    train, val = shapes.split("train"), shapes.split("val")
    report = validate_dataset(val, against=train)
    assert report.schema_source == "reference" and report.drift is not None
    assert report.drift.reference == train.name and not report.drift.drifted
    given = validate_dataset(val, schema=infer_schema(train))
    assert given.schema_source == "given" and given.drift is None
    # against a schema a person gave, outliers are warnings; against its own, notes
    assert {i.severity for i in given.issues if i.code.endswith("_outside_schema")} <= {
        Severity.WARNING
    }
    own = validate_dataset(val)
    assert {i.severity for i in own.issues if i.code.endswith("_outside_schema")} <= {Severity.INFO}


def test_extra_checks_run_last_and_join_the_report(annotations):
    ds = annotations({"a": [(10, 10, 40, 40, 0)]}, class_names=("a",))
    seen = []

    def opinion(dataset):
        seen.append(dataset)
        return [
            Issue(
                "label_wrong_class",
                Severity.WARNING,
                "a model disagrees",
                image_id="a",
                location="box 0",
            )
        ]

    report = validate_dataset(ds, config=QualityConfig(read_images=False), extra_checks=[opinion])
    assert seen == [ds] and [i.code for i in report.issues] == ["label_wrong_class"]


def test_what_the_loader_reported_is_listed_once(annotations):
    ds = annotations({"a": [(90, 10, 110, 30, 0)], "b": [(90, 10, 110, 30, 0)]})
    log = IssueLog()
    log.add(
        "box_out_of_bounds", "warning", "loader: box crosses the border", path="a.xml", image_id="a"
    )
    ds.issues = log
    report = validate_dataset(ds, config=QualityConfig(read_images=False))
    out = [
        (i.image_id, i.message.split(":")[0])
        for i in report.issues
        if i.code == "box_out_of_bounds"
    ]
    assert sorted(out) == [
        ("a", "loader"),
        ("b", "a box [90, 10, 110, 30] crosses the border of the 100x80 image"),
    ]


def test_an_unknown_image_checker_is_a_config_error():
    with pytest.raises(ConfigError, match="image_checker"):
        QualityConfig(image_checker="eyeball")


def test_cleanvision_as_the_image_checker(planted):
    ds, truth = planted
    report = validate_dataset(ds, config=QualityConfig(image_checker="cleanvision"))
    found = recall(truth, report.issues)
    assert found["dark"] == (3, 3) and found["corrupt"] == (3, 3)  # corrupt files stay ours
    assert any(i.message.startswith("cleanvision: ") for i in report.issues)
    assert found["duplicate_across_splits"] == (3, 3)  # duplicates and leakage stay ours


def test_the_demo_step_finds_all_it_planted(tmp_path):
    """The demo's quality step on the demo's own data (48 generated images)."""
    from yolops.data.synth import SynthConfig, generate_to
    from yolops.pipeline.demo import quality_step

    data_yaml = generate_to(tmp_path / "shapes", "yolo", SynthConfig(num_images=48, seed=0))
    result = plant_and_validate(load_dataset(data_yaml), tmp_path / "planted")
    assert result.recall == {kind: (1, 1) for kind in DEMO_KINDS}
    assert result.report.exit_code("error") == 1  # the leak and the degenerate box stop the gate
    page = quality_step(data_yaml, tmp_path / "quality")
    assert page.is_file() and "data:image/jpeg;base64," in page.read_text()
