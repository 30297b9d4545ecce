"""Label Studio JSON: percent coordinates, image references, annotation choice,
predictions, class order, splits, and every bad input reported."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from yolops.data.dataset import load_dataset, save_dataset
from yolops.data.formats import coco, detect_format, labelstudio
from yolops.data.synth import SynthConfig, generate, generate_to
from yolops.errors import DataLoadError, DatasetFormatError
from yolops.issues import IssueLog, Severity

from issue_support import issues_with, one_issue

TASKS = "tasks.json"


@pytest.fixture
def written(tiny_dataset, tmp_path) -> Path:
    """The tiny dataset saved as Label Studio; returns the dataset folder."""
    return save_dataset(tiny_dataset, tmp_path / "ls", "labelstudio")


def edit(file: Path, change) -> None:
    data = json.loads(file.read_text())
    change(data)
    file.write_text(json.dumps(data))


def rect(x, y, w, h, label="cat", **extra) -> dict:
    """A rectangle result as Label Studio exports it (percent coordinates)."""
    value = {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]}
    result = {
        "id": "r",
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": 200,
        "original_height": 100,
        "image_rotation": 0,
        "value": value,
    }
    for key, v in extra.items():
        (value if key in value else result)[key] = v
    return result


def write_export(root: Path, tasks: list, images: dict[str, tuple[int, int]]) -> Path:
    """``root/export.json`` holding ``tasks``, and solid images (name -> size) under
    ``root/images/``; returns the JSON file."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    for name, size in images.items():
        Image.new("RGB", size).save(root / "images" / name)
    file = root / "export.json"
    file.write_text(json.dumps(tasks, indent=2))
    return file


# -- coordinates ------------------------------------------------------------------------


def test_percent_conversion_known_values():
    value = {"x": 10, "y": 20, "width": 50, "height": 25}
    assert labelstudio.percent_to_xyxy(value, 200, 100) == (20, 20, 120, 45)
    assert labelstudio.xyxy_to_percent((20, 20, 120, 45), 200, 100) == value


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 8000),
    st.integers(1, 8000),
    st.lists(st.floats(0, 1), min_size=4, max_size=4),
)
def test_percent_round_trip_through_json_is_lossless(width, height, fractions):
    a, b, c, d = fractions
    box = np.float32([min(a, c) * width, min(b, d) * height, max(a, c) * width, max(b, d) * height])
    text = json.dumps(labelstudio.xyxy_to_percent(box, width, height))
    back = np.float32(labelstudio.percent_to_xyxy(json.loads(text), width, height))
    np.testing.assert_allclose(back, box, atol=1e-3, rtol=0)


# -- writing and reading -------------------------------------------------------------------


def test_writes_tasks_config_and_images(written):
    tasks = json.loads((written / TASKS).read_text())
    assert len(tasks) == 7 and [t["id"] for t in tasks] == list(range(1, 8))
    task = tasks[1]  # img_1 (80x60): one box (3.25, 3.5, 21.75, 17), class dog, train
    assert task["data"] == {"image": "images/img_1.png", "split": "train"}
    assert task["predictions"] == []
    [annotation] = task["annotations"]
    assert annotation["was_cancelled"] is False
    [result] = annotation["result"]
    assert result["type"] == "rectanglelabels" and result["image_rotation"] == 0
    assert (result["original_width"], result["original_height"]) == (80, 60)
    value = result["value"]
    assert value["rectanglelabels"] == ["dog"] and value["rotation"] == 0
    expected = {"x": 3.25 / 80 * 100, "y": 3.5 / 60 * 100, "width": 18.5 / 80 * 100}
    assert {k: value[k] for k in expected} == pytest.approx(expected)
    assert tasks[6]["data"] == {"image": "images/sub/img_6.png"}  # in no split
    assert (written / "images/sub/img_6.png").is_file()
    config = labelstudio.read_label_config(written / "label_config.xml")
    assert config == labelstudio.LabelConfig(("cat", "dog", "bird"), "image")


def test_reads_back_what_it_wrote(tiny_dataset, written, assert_same_labels):
    for source in (written, written / TASKS):
        assert detect_format(source) == "labelstudio"
    assert not coco.detect(written / TASKS)  # a list of tasks is not a COCO file
    ds = load_dataset(written)
    assert not ds.issues, [str(i) for i in ds.issues]
    assert_same_labels(tiny_dataset, ds)
    assert ds["sub/img_6"].path == written / "images/sub/img_6.png"
    assert ds.split_of("sub/img_6") is None


def test_a_coco_file_is_not_a_label_studio_export(tiny_dataset, tmp_path):
    out = save_dataset(tiny_dataset, tmp_path / "coco", "coco")
    train = out / "annotations/instances_train.json"
    assert not labelstudio.detect(train) and not labelstudio.detect(out)
    with pytest.raises(DatasetFormatError, match="must hold a JSON list of tasks, got dict"):
        load_dataset(train, format="labelstudio")


def test_class_order_from_the_config_else_first_appearance(written):
    (written / "label_config.xml").unlink()
    ds = load_dataset(written)
    # img_1 has a dog, img_2 a bird then a cat
    assert ds.class_names == ("dog", "bird", "cat") and ds["img_1"].classes.tolist() == [0]
    (written / "label_config.xml").write_text(
        '<View><Image name="img" value="$image"/><RectangleLabels name="l" toName="img">'
        '<Label value="fish"/><Label value="bird"/><Label value="cat"/></RectangleLabels></View>'
    )
    ds = load_dataset(written)
    assert ds.class_names == ("fish", "bird", "cat")
    issues = issues_with(ds, "class_unknown")  # dog is not in the config
    assert len(issues) == len(ds.issues) == 3 and all("'dog'" in i.message for i in issues)
    assert issues[0].location == "tasks[1] (id 2), annotations[0].result[0]"
    assert len(ds["img_1"]) == 0 and ds["img_2"].classes.tolist() == [1, 2]


def test_generated_data_loads_strictly_as_generated(tmp_path, assert_same_labels):
    config = SynthConfig(num_images=8, image_size=(160, 120), max_size=48)
    expected = generate(tmp_path / "ref", config)
    ds = load_dataset(generate_to(tmp_path / "labelstudio", "labelstudio", config), strict=True)
    assert_same_labels(expected, ds, atol=1e-3)
    assert ds.split_of(expected.ids[0]) == expected.split_of(expected.ids[0])


# -- a real export ------------------------------------------------------------------------


@pytest.fixture
def export(tmp_path) -> Path:
    """Two tasks as Label Studio exports them: uploaded images (hash-prefixed names),
    a cancelled then a real annotation, a second annotator, model predictions and an
    image-level choice beside the boxes."""
    size = {"original_width": 40, "original_height": 30}
    tasks = [
        {
            "id": 11,
            "data": {"image": "/data/upload/1/a1b2c3d4-cat.png"},
            "annotations": [
                {"id": 21, "was_cancelled": True, "result": []},
                {
                    "id": 22,
                    "was_cancelled": False,
                    "ground_truth": False,
                    "result": [
                        rect(10, 20, 30, 40, "cat"),
                        {
                            "type": "choices",
                            "from_name": "quality",
                            "to_name": "image",
                            "value": {"choices": ["sharp"]},
                        },
                    ],
                },
            ],
            "predictions": [
                {
                    "model_version": "v1",
                    "score": 0.8,
                    "result": [rect(12, 22, 30, 40, "cat", score=0.9), rect(0, 0, 5, 5, "fox")],
                }
            ],
            "file_upload": "a1b2c3d4-cat.png",
        },
        {
            "id": 12,
            "data": {"image": "/data/upload/1/5d2e9f01-dog.png"},
            "annotations": [
                {"id": 23, "was_cancelled": False, "result": [rect(50, 50, 50, 50, "dog", **size)]},
                {"id": 24, "was_cancelled": False, "result": [rect(0, 0, 10, 10, "cat")]},
            ],
            "predictions": [],
        },
    ]
    return write_export(
        tmp_path / "ls", tasks, {"cat.png": (200, 100), "5d2e9f01-dog.png": (40, 30)}
    )


def test_a_real_export(export):
    assert detect_format(export.parent) == "labelstudio"
    ds = load_dataset(export.parent)
    # the upload's hash prefix is dropped to find cat.png; 5d2e9f01-dog.png is as named
    assert ds.ids == ["cat", "5d2e9f01-dog"] and ds.splits == {}
    assert ds.class_names == ("cat", "dog")
    np.testing.assert_allclose(ds["cat"].boxes, [[20, 20, 80, 60]])  # annotation 22
    np.testing.assert_allclose(ds["5d2e9f01-dog"].boxes, [[20, 15, 40, 30]])  # the first
    assert ds["5d2e9f01-dog"].classes.tolist() == [1]
    got = {(i.code, i.severity, i.location) for i in ds.issues}
    assert got == {
        ("annotation_cancelled", Severity.INFO, "tasks[0] (id 11)"),
        ("result_skipped", Severity.WARNING, "tasks[0] (id 11)"),
        ("predictions_not_read", Severity.INFO, None),
        ("annotations_several", Severity.WARNING, "tasks[1] (id 12)"),
    }
    assert "choices x1" in one_issue(ds, "result_skipped").message
    assert "1 prediction(s) in 1 task(s), with 2 result(s)" in (
        one_issue(ds, "predictions_not_read").message
    )
    assert "annotations[0]" in one_issue(ds, "annotations_several").message
    with pytest.raises(DataLoadError) as err:  # the two warnings, not the notes
        load_dataset(export, strict=True)
    assert {i.code for i in err.value.issues} == {"result_skipped", "annotations_several"}


def test_predictions_are_read_apart_with_scores(export):
    issues = IssueLog()
    parts = labelstudio.read_predictions(export, issues)
    assert not issues, [str(i) for i in issues]
    assert parts.class_names == ("cat", "dog", "fox")  # ground truth's, then their own
    cat, dog = parts.records
    np.testing.assert_allclose(cat.boxes, [[24, 22, 84, 62], [0, 0, 10, 5]])
    assert cat.classes.tolist() == [0, 2]
    assert cat.attributes["score"].tolist() == [0.9, 0.8]  # the result's, else the prediction's
    assert len(dog) == 0 and dog.attributes["score"].dtype == np.float64


def test_unlabelled_and_cancelled_tasks_are_set_aside(export):
    def change(tasks):
        tasks[0]["annotations"] = tasks[0]["annotations"][:1]  # only the cancelled one
        del tasks[1]["annotations"]

    edit(export, change)
    ds = load_dataset(export)
    assert len(ds) == 0
    cancelled, empty = issues_with(ds, "task_unlabelled")
    assert (cancelled.severity, cancelled.location) == (Severity.WARNING, "tasks[0] (id 11)")
    assert "all 1 annotation(s) were cancelled" in cancelled.message
    assert "1 prediction(s) are not ground truth" in cancelled.message
    assert empty.location == "tasks[1] (id 12)" and "no annotation" in empty.message


@pytest.mark.parametrize(
    "reference, expected",
    [
        ("images/x.png", ("images/x.png", ["images/x.png", "images/images/x.png"])),
        ("x.png", ("x.png", ["x.png", "images/x.png"])),
        ("/data/local-files/?d=raw%2Fx.png", ("raw/x.png", ["raw/x.png", "images/x.png"])),
        (
            "/data/upload/3/0a1b2c3d-my%20x.png",
            (
                None,
                ["images/0a1b2c3d-my x.png", "images/my x.png", "0a1b2c3d-my x.png", "my x.png"],
            ),
        ),
        ("/data/upload/3/x.png", (None, ["images/x.png", "x.png"])),
        ("https://host/bucket/x.png?sig=1", (None, ["images/x.png", "x.png"])),
        ("s3://bucket/dir/x.png", (None, ["images/x.png", "x.png"])),
        ("/home/me/x.png", None),
    ],
)
def test_where_references_are_looked_up(reference, expected):
    assert labelstudio.reference_paths(reference) == expected


def test_image_keys_and_reference_kinds(tmp_path):
    tasks = [
        {
            "data": {"photo": "/data/local-files/?d=elsewhere/a.png"},
            "annotations": [{"result": []}],
        },
        {
            "data": {"img": "https://example.com/b.png", "text": "hi"},
            "annotations": [{"result": []}],
        },
        {"data": {"image": "sub/c.png"}, "annotations": [{"result": []}]},
    ]
    file = write_export(tmp_path / "ls", tasks, {"a.png": (8, 8), "b.png": (8, 8)})
    Image.new("RGB", (8, 8)).save(tmp_path / "ls/images/sub_c.png")  # not c.png
    (tmp_path / "ls/sub").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "ls/sub/c.png")
    ds = load_dataset(file)
    assert ds.ids == ["a", "b", "sub/c"] and not ds.issues, [str(i) for i in ds.issues]
    assert ds["sub/c"].path == tmp_path / "ls/sub/c.png"


def test_splits_from_data_split(written):
    def change(tasks):
        tasks[0]["data"]["split"] = "Train"
        tasks[1]["data"]["split"] = "holdout"
        tasks[2]["data"]["split"] = 5

    edit(written / TASKS, change)
    ds = load_dataset(written)
    assert ds.split_of("img_0") == "train" and ds.split_of("img_1") == "holdout"
    assert ds.split_of("img_2") is None
    unknown = one_issue(ds, "split_unknown")
    assert unknown.severity is Severity.INFO and "'holdout' (1 image(s))" in unknown.message
    invalid = one_issue(ds, "split_invalid")
    assert (invalid.severity, invalid.image_id) == (Severity.WARNING, "img_2")


# -- bad input ------------------------------------------------------------------------

BAD_RESULTS = [
    (rect("a", 1, 5, 5), "box_malformed", "must be numbers"),
    (rect(1, 1, 5, 5, rectanglelabels=["cat", "dog"]), "box_malformed", "one label"),
    (rect(1, 1, 5, 5, rectanglelabels=[]), "box_malformed", "one label"),
    (rect(1, 1, 5, 5, rotation=30), "box_rotated", "rotated by 30 degrees"),
    (rect(1, 1, 5, 5, image_rotation=90), "box_rotated", "image rotated by 90"),
    (rect(1, 1, 5, 5, rotation="x"), "box_malformed", "rotation must be a number"),
    (rect(1, math.nan, 5, 5), "box_nonfinite", "non-finite"),
    (rect(150, 1, 5, 5), "box_outside_image", "wholly outside"),
    (rect(10, 1, -5, 5), "box_inverted", "x2 < x1"),
    (rect(10, 1, 0, 5), "box_zero_area", "zero area"),
    ({"type": "rectanglelabels"}, "box_malformed", "'value' object"),
    ("not a result", "box_malformed", "'value' object"),
]


def test_bad_results_are_reported_and_good_ones_load(written):
    def add(tasks):
        results = [rect(0, 0, 50, 50)] + [r for r, _, _ in BAD_RESULTS] + [rect(90, 90, 11, 10)]
        for result in results:
            if isinstance(result, dict):
                result.update(original_width=64, original_height=48)  # img_0's size
        tasks[0]["annotations"][0]["result"] = results

    edit(written / TASKS, add)
    ds = load_dataset(written)
    got = [i for i in ds.issues if i.path == TASKS]
    where = "tasks[0] (id 1), annotations[0].result"
    assert [(i.code, i.location) for i in got] == [
        (code, f"{where}[{k}]") for k, (_, code, _) in enumerate(BAD_RESULTS, 1)
    ] + [("box_out_of_bounds", f"{where}[{len(BAD_RESULTS) + 1}]")]
    for issue, (_, _, words) in zip(got, BAD_RESULTS):
        assert issue.severity is Severity.ERROR and issue.image_id == "img_0", issue
        assert words in issue.message, issue
    assert got[-1].severity is Severity.WARNING
    # img_0 is 64x48: the good box, and the border-crossing one kept as is
    np.testing.assert_allclose(ds["img_0"].boxes, [[0, 0, 32, 24], [57.6, 43.2, 64.64, 48]])
    assert len(ds) == 7 and len(ds.issues) == len(got)
    with pytest.raises(DataLoadError) as err:
        load_dataset(written, strict=True)
    assert len(err.value.issues) == len(got) and f"{where}[3]" in str(err.value)


def test_bad_tasks_are_reported_and_good_ones_load(written):
    def spoil(tasks):
        tasks[0] = "not a task"
        del tasks[1]["data"]
        tasks[2]["data"] = {"text": "no image here"}
        tasks[3]["data"]["image"] = "../../etc/passwd.png"
        tasks[4]["data"]["image"] = "/data/local-files/?d=../../../secret.png"
        tasks[5]["data"]["image"] = "images/ghost.png"
        tasks.append(dict(tasks[6], id=99))  # sub/img_6 again
        tasks[6]["annotations"] = {"result": []}

    edit(written / TASKS, spoil)
    ds = load_dataset(written)
    got = [(i.code, i.location) for i in ds.issues]
    assert got == [  # tasks first, then their annotations, then their images
        ("record_malformed", "tasks[0]"),
        ("record_malformed", "tasks[1]"),
        ("record_malformed", "tasks[2] (id 3)"),
        ("record_malformed", "tasks[6] (id 7), annotations"),
        ("path_escapes_root", "tasks[3] (id 4)"),
        ("path_escapes_root", "tasks[4] (id 5)"),
        ("image_missing", "tasks[5] (id 6)"),
    ]
    assert all(i.severity is Severity.ERROR for i in ds.issues)
    assert "got not a task" in ds.issues.issues[0].message
    assert "'text': 'no image here'" in ds.issues.issues[2].message
    assert "'annotations' must be a list, got dict" in ds.issues.issues[3].message
    assert "../../etc/passwd.png" in ds.issues.issues[4].message
    missing = ds.issues.issues[6]
    assert "images/ghost.png" in missing.message and missing.image_id == "ghost"
    assert ds.ids == ["sub/img_6"]  # the appended copy, its task 7 having been set aside
    with pytest.raises(DataLoadError) as err:
        load_dataset(written, strict=True)
    assert len(err.value.issues) == 7


def test_two_tasks_for_one_image(written):
    edit(written / TASKS, lambda tasks: tasks.append(dict(tasks[1], id=99)))
    ds = load_dataset(written)
    issue = one_issue(ds, "image_id_duplicate")
    assert (issue.severity, issue.location, issue.image_id) == (
        Severity.ERROR,
        "tasks[7] (id 99)",
        "img_1",
    )
    assert "1 result(s)" in issue.message and len(ds) == 7


def test_size_mismatch_uses_the_real_size(written):
    def change(tasks):
        tasks[1]["annotations"][0]["result"][0].update(original_width=800, original_height=600)

    edit(written / TASKS, change)
    ds = load_dataset(written)
    issue = one_issue(ds, "size_mismatch")
    assert (issue.severity, issue.location) == (Severity.WARNING, "tasks[1] (id 2)")
    assert "800x600" in issue.message and "80x60" in issue.message
    np.testing.assert_allclose(ds["img_1"].boxes, [[3.25, 3.5, 21.75, 17]], atol=1e-4)


@pytest.mark.parametrize(
    "how, code",
    [
        ("garbage", "image_unreadable"),
        ("truncated", "image_truncated"),
        ("text", "image_unreadable"),
    ],
)
def test_broken_images_are_set_aside(make_tiny_dataset, tmp_path, break_image, how, code):
    out = save_dataset(make_tiny_dataset(suffix=".jpg"), tmp_path / "ls", "labelstudio")
    break_image(out / "images/img_4.jpg", how)
    ds = load_dataset(out)
    issue = one_issue(ds, code)
    assert (issue.severity, issue.path, issue.image_id) == (
        Severity.ERROR,
        "images/img_4.jpg",
        "img_4",
    )
    assert "tasks[4] (id 5)" in issue.message
    assert "img_4" not in ds and len(ds) == 6 and ds.splits["val"] == ("img_3",)
    with pytest.raises(DataLoadError, match="images/img_4.jpg"):
        load_dataset(out, strict=True)


def test_malformed_json_names_file_line_and_column(written):
    (written / TASKS).write_text('[{"data": {"image": "a.png"}},\n {"data": }]\n')
    with pytest.raises(
        DatasetFormatError, match=r"tasks\.json: malformed JSON at line 2, column 11"
    ):
        load_dataset(written)


def test_structural_problems_raise(written, tmp_path):
    (written / TASKS).write_text(json.dumps([{"image": "a.png", "label": []}]))  # JSON-MIN
    with pytest.raises(DatasetFormatError, match="no task has a 'data' object"):
        load_dataset(written / TASKS, format="labelstudio")
    (written / TASKS).write_text("[]")  # an empty project: read when asked for, not detected
    assert not labelstudio.detect(written / TASKS)
    (written / "label_config.xml").write_text("<View>\n<RectangleLabels>\n</View>")
    with pytest.raises(DatasetFormatError, match=r"label_config\.xml: malformed XML at line 3"):
        load_dataset(written / TASKS, format="labelstudio")
    (written / "label_config.xml").unlink()
    assert len(load_dataset(written / TASKS, format="labelstudio")) == 0
    for file in (written / TASKS, written / "other.json"):
        file.write_text('[{"data": {}}]')
    with pytest.raises(DatasetFormatError, match=r"holds 2 Label Studio exports"):
        load_dataset(written, format="labelstudio")
