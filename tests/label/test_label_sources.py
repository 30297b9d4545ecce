"""Tasks from every source (folders, each format with its labels, dataset versions,
the monitor's export batch), pre-labels from a model, and export of approved tasks as
a dataset version with lineage."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from yolops.data.dataset import load_dataset
from yolops.data.formats import FORMAT_NAMES
from yolops.data.versions import commit, load_version
from yolops.errors import LabelError, SourceError
from yolops.label import tasks as T
from yolops.label.export import export
from yolops.label.importing import add_tasks
from yolops.label.prelabel import prelabel, refresh
from yolops.label.projects import create_project

from label_support import ADMIN, ALICE, BOB, studio, write_images

TINY = ("cat", "dog", "bird")


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_each_format_imports_with_its_labels(tmp_path, tiny_dataset, fmt):
    source = tiny_dataset.save(tmp_path / fmt, fmt)
    store = studio(tmp_path)
    project = create_project(store, ADMIN, "p", TINY)
    result = add_tasks(store, ADMIN, project, source)
    assert result.added == len(tiny_dataset) and result.kind == "dataset"
    assert result.boxes == tiny_dataset.num_boxes and not result.unreadable
    # An annotator starts from the labels the image came with.
    for record in tiny_dataset:
        row = _task_by_image(store, project, record.id)
        got = np.array([b["box"] for b in row.initial], np.float32).reshape(-1, 4)
        np.testing.assert_allclose(got, record.boxes, atol=0.02)
        assert [b["cls"] for b in row.initial] == record.classes.tolist()
        assert row.split == tiny_dataset.split_of(record.id)


def _task_by_image(store, project, image_id):
    from sqlalchemy import select

    from yolops.label.tables import tasks

    with store.connect("test") as conn:
        return conn.execute(
            select(tasks).where(tasks.c.project_id == project.id, tasks.c.image_id == image_id)
        ).one()


def test_a_folder_of_images_with_a_corrupt_one_and_a_second_add(tmp_path):
    folder = write_images(tmp_path / "img", 3)
    (folder / "sub").mkdir()
    shutil.copy(folder / "im00.png", folder / "sub" / "copy.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    store = studio(tmp_path)
    project = create_project(store, ADMIN, "p", ["cell"])
    result = add_tasks(store, ADMIN, project, folder)
    assert result.added == 5 and result.kind == "folder"
    assert result.unreadable and result.unreadable[0].startswith("broken.jpg: ")
    broken = _task_by_image(store, project, "broken.jpg")
    assert broken.state == "unreadable" and broken.blob is not None  # the bytes are kept
    assert "sub/copy.png" in {t["image"] for t in T.queue(store, ALICE, project)[1]}
    # Unreadable tasks are in nobody's queue; adding again adds nothing, and says so.
    assert all(t["image"] != "broken.jpg" for t in T.queue(store, ALICE, project)[1])
    again = add_tasks(store, ADMIN, project, folder)
    assert again.added == 0 and len(again.already) == 5
    with pytest.raises(LabelError, match="the image cannot be read"):
        T.save(store, ALICE, broken.id, 0, [])


def test_sources_that_cannot_be_used_say_why(tmp_path, tiny_dataset):
    store = studio(tmp_path)
    project = create_project(store, ADMIN, "p", ["cat", "dog"])
    with pytest.raises(SourceError, match="no such file or folder"):
        add_tasks(store, ADMIN, project, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no images in this folder"):
        add_tasks(store, ADMIN, project, tmp_path / "empty")
    source = tiny_dataset.save(tmp_path / "yolo", "yolo")
    with pytest.raises(LabelError, match="class\\(es\\) 'bird' are not classes of project"):
        add_tasks(store, ADMIN, project, source)


def test_a_dataset_version_in_and_the_approved_labels_out_as_the_next_version(
    tmp_path, tiny_dataset
):
    store = studio(tmp_path)
    ws = store.workspace
    v1 = commit(tiny_dataset, "tiny", "first", workspace=ws).version
    project = create_project(store, ADMIN, "relabel", TINY, data=v1.ref)
    assert add_tasks(store, ADMIN, project, v1.ref).kind == "version"
    # Two images get new labels through annotate and review.
    changed = {}
    for _ in range(2):
        t = T.next_task(store, ALICE, project, "annotate")
        new = [{"box": [1.0, 1.0, 20.0, 20.0], "cls": 2}]
        t = T.save(store, ALICE, t["id"], t["revision"], new, submit=True)
        T.approve(store, BOB, t["id"], T.view(store, BOB, t["id"])["revision"])
        changed[t["image"]["name"]] = new
    # One new image, from a folder, labeled too.
    extra = write_images(tmp_path / "extra", 1, size=(64, 48))
    add_tasks(store, ADMIN, project, extra)
    new_task = next(t for t in T.queue(store, ALICE, project)[1] if t["image"] == "im00.png")
    t = T.view(store, ALICE, new_task["id"])  # any task in the queue may be worked on
    t = T.save(store, ALICE, t["id"], t["revision"], [{"box": [2, 2, 9, 9], "cls": 0}], True)
    T.approve(store, BOB, t["id"], T.view(store, BOB, t["id"])["revision"])

    result = export(store, ADMIN, project, "tiny", split="val")
    assert result.commit.created and result.commit.version.ref == "tiny@v2"
    assert (result.tasks, result.replaced, result.added, result.base) == (3, 2, 1, "tiny@v1")
    v2 = load_version(ws, "tiny@v2")
    by_id = {r.id: r for r in v2.records}
    for image_id, labels in changed.items():
        assert by_id[image_id].boxes.tolist() == [labels[0]["box"]]
        assert by_id[image_id].classes.tolist() == [2]
    assert by_id["im00.png"].boxes.tolist() == [[2, 2, 9, 9]]
    assert "im00.png" in v2.splits["val"]
    untouched = [r for r in tiny_dataset if r.id not in changed]
    for r in untouched:  # images not done keep their labels exactly
        np.testing.assert_array_equal(by_id[r.id].boxes, r.boxes)
    produced = result.commit.version.produced_by
    assert produced["kind"] == "labeling" and produced["project"] == "relabel"
    assert produced["annotators"] == {"alice": 3} and produced["reviewers"] == {"bob": 3}
    assert sorted(produced["tasks"]) == sorted(produced["tasks"]) and len(produced["tasks"]) == 3


def test_the_monitor_batch_brings_proposals_not_labels(tmp_path, tiny_dataset):
    source = tiny_dataset.save(tmp_path / "batch", "yolo")
    (tmp_path / "batch" / "selection.csv").write_text("image,time,reasons\n")
    store = studio(tmp_path)
    project = create_project(store, ADMIN, "p", TINY)
    result = add_tasks(store, ADMIN, project, source.parent if source.is_file() else source)
    assert result.kind == "monitor"
    first = tiny_dataset.records[0]
    row = _task_by_image(store, project, first.id)
    assert row.initial is None and len(row.proposals) == len(first.boxes)


def test_prelabel_proposes_orders_and_refreshes_on_a_new_model(tmp_path, trained_run, shapes_yaml):
    data = load_dataset(shapes_yaml)
    store = studio(tmp_path)
    model = trained_run / "weights" / "best.pt"
    project = create_project(store, ADMIN, "shapes", data.class_names, model=str(model))
    add_tasks(store, ADMIN, project, shapes_yaml)
    from yolops.label.projects import get_project

    result = prelabel(store, ADMIN, project)
    assert result.tasks == len(data) and result.version.startswith("sha256:")
    project = get_project(store, "shapes")
    assert project.model_version == result.version
    for record in data:
        row = _task_by_image(store, project, record.id)
        assert row.uncertainty is not None and row.uncertainty >= 0
        assert row.prelabel_model.startswith(str(model))
        assert all(p["score"] >= 0.05 and 0 <= p["cls"] < len(data.class_names)
                   for p in row.proposals)  # fmt: skip
    # Same model: nothing to do. Another model file: the untouched tasks again.
    assert refresh(store, ADMIN, project) is None
    started = T.next_task(store, ALICE, project, "annotate")
    other = tmp_path / "other.pt"
    shutil.copy(trained_run / "weights" / "last.pt", other)
    from yolops.label.projects import set_model

    set_model(store, project, str(other), project.model_version)
    again = refresh(store, ADMIN, get_project(store, "shapes"))
    assert again is not None and again.tasks == len(data) - 1  # alice's task is left alone
    row = _task_by_image(store, project, started["image"]["name"])
    assert row.prelabel_model.startswith(str(model))


def test_a_submission_missing_what_the_model_is_sure_of_scores_as_a_likely_error(tmp_path):
    from sqlalchemy import update

    from yolops.label.tables import tasks

    store = studio(tmp_path)
    project = create_project(store, ADMIN, "p", ["cell", "blob"])
    add_tasks(store, ADMIN, project, write_images(tmp_path / "img", 2))
    sure = [
        {"box": [5, 5, 25, 25], "cls": 0, "score": 0.95},
        {"box": [40, 30, 70, 55], "cls": 1, "score": 0.9},
    ]
    with store.begin("test") as conn:
        conn.execute(update(tasks).values(proposals=sure, uncertainty=0.5))
    scores = {}
    for labels in (sure, sure[:1]):  # all the objects, then one missed
        t = T.next_task(store, ALICE, project, "annotate")
        mine = [{"box": p["box"], "cls": p["cls"]} for p in labels]
        T.save(store, ALICE, t["id"], t["revision"], mine, submit=True)
        scores[len(labels)] = t["id"]
    T.wait_for_scores()  # scored off the request's path
    complete, missed = (_task_row(store, scores[n]).error_score for n in (2, 1))
    assert 0.0 <= complete < missed <= 1.0
    # Reviewers see the likely error first.
    assert [t["id"] for t in T.queue(store, BOB, project)[1]] == [scores[1], scores[2]]


def _task_row(store, task_id):
    from sqlalchemy import select

    from yolops.label.tables import tasks

    with store.connect("test") as conn:
        return conn.execute(select(tasks).where(tasks.c.id == task_id)).one()
