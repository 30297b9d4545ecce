"""Tasks through their stages: transitions, roles, the two-person rule, overlap,
conflicts, and an audit trail that replays to the task as it is."""

from __future__ import annotations

import pytest

from yolops.errors import Conflict, Forbidden, LabelError
from yolops.label import tasks as T
from yolops.label.history import current, replay, task_events, visible_events
from yolops.label.progress import status

from label_support import (
    ALICE,
    ANNA,
    BOB,
    MANAGER,
    RITA,
    VIC,
    box,
    project_with_tasks,
    studio,
)


@pytest.fixture
def store(tmp_path):
    return studio(tmp_path)


def _annotate(store, actor, project, boxes, submit=True):
    task = T.next_task(store, actor, project, "annotate")
    assert task is not None, f"{actor.name} got no task"
    return T.save(store, actor, task["id"], task["revision"], boxes, submit=submit)


def test_a_task_goes_annotate_review_accept_and_back_on_reject(store, tmp_path):
    project = project_with_tasks(store, tmp_path / "img", 1, ("annotate", "review", "accept"))
    task = _annotate(store, ALICE, project, [box(1, 2, 30, 40)])
    assert task["stage"] == "review" and task["boxes"][0]["box"] == [1, 2, 30, 40]
    tid = task["id"]

    seen = T.view(store, BOB, tid)
    assert seen["can"] == {"save": True, "submit": False, "approve": True, "reject": True}
    after = T.approve(store, BOB, tid, seen["revision"])
    assert after["stage"] == "accept"

    # At "accept" rita rejects: back to "review" (the stage before), not to the start.
    seen = T.view(store, RITA, tid)
    back = T.reject(store, RITA, tid, seen["revision"], {"text": "too loose", "box": None})
    assert back["stage"] == "review" and back["comments"][0]["text"] == "too loose"

    seen = T.view(store, BOB, tid)
    fixed = [box(2, 3, 29, 39)]
    assert T.approve(store, BOB, tid, seen["revision"], fixed)["stage"] == "accept"
    seen = T.view(store, RITA, tid)
    done = T.approve(store, RITA, tid, seen["revision"])
    assert done["state"] == "done" and done["boxes"] == [{**fixed[0], "source": "human"}]
    assert [e["action"] for e in task_events(store, tid)] == [
        "import", "claim", "submit", "merge", "approve", "reject", "approve", "approve"
    ]  # fmt: skip


def test_a_rejection_to_the_first_stage_is_fixed_by_its_annotator(store, tmp_path):
    project = project_with_tasks(store, tmp_path / "img", 1)
    tid = _annotate(store, ALICE, project, [box(1, 2, 30, 40, cls=1)])["id"]
    seen = T.view(store, BOB, tid)
    comment = {"text": "wrong class", "box": [1, 2, 30, 40]}
    assert T.reject(store, BOB, tid, seen["revision"], comment)["stage"] == "annotate"

    mine = T.view(store, ALICE, tid)
    assert mine["can"]["submit"] and mine["comments"][0]["box"] == [1, 2, 30, 40]
    with pytest.raises(Forbidden, match="being fixed by its annotators"):
        T.save(store, ANNA, tid, mine["revision"], [box(1, 2, 30, 40)])
    # Rejected tasks come first in their annotator's queue.
    assert T.queue(store, ALICE, project)[1][0]["id"] == tid
    T.save(store, ALICE, tid, mine["revision"], [box(1, 2, 30, 40, cls=0)], submit=True)
    seen = T.view(store, BOB, tid)
    assert seen["stage"] == "review" and seen["comments"] == []
    assert T.approve(store, BOB, tid, seen["revision"])["state"] == "done"


def test_roles_act_only_at_their_stages(store, tmp_path):
    project = project_with_tasks(store, tmp_path / "img", 2)
    tid = _annotate(store, ALICE, project, [box(1, 2, 30, 40)])["id"]
    seen = T.view(store, BOB, tid)
    with pytest.raises(Forbidden, match="may not review"):
        T.approve(store, ANNA, tid, seen["revision"])
    with pytest.raises(Forbidden, match="may not review"):
        T.reject(store, VIC, tid, seen["revision"], {"text": "no"})
    with pytest.raises(Forbidden, match="may not annotate"):
        T.next_task(store, VIC, project, "annotate")
    # Nobody skips a stage: a first-stage task is not up for approval.
    other = T.next_task(store, ANNA, project)
    with pytest.raises(Forbidden, match="not up for review"):
        T.approve(store, BOB, other["id"], other["revision"])
    with pytest.raises(Forbidden, match="may not"):
        from yolops.label.projects import create_project

        create_project(store, ALICE, "mine", ["a"])


def test_nobody_reviews_their_own_work(store, tmp_path):
    project = project_with_tasks(store, tmp_path / "img", 1, ("annotate", "review", "accept"))
    # bob (a reviewer) may annotate, but then not review the same task.
    tid = _annotate(store, BOB, project, [box(1, 2, 30, 40)])["id"]
    seen = T.view(store, BOB, tid)
    assert not seen["can"]["approve"] and "two-person rule" in seen["why_not"]
    with pytest.raises(Forbidden, match="two-person rule"):
        T.approve(store, BOB, tid, seen["revision"])
    assert T.queue(store, BOB, project, "review")[1] == []
    T.approve(store, RITA, tid, seen["revision"])
    # rita approved at review: she may not also accept.
    seen = T.view(store, RITA, tid)
    with pytest.raises(Forbidden, match="earlier stage"):
        T.approve(store, RITA, tid, seen["revision"])
    assert T.approve(store, MANAGER, tid, seen["revision"])["state"] == "done"


def test_a_save_from_an_old_revision_is_a_conflict_and_loses_nothing(store, tmp_path):
    project = project_with_tasks(store, tmp_path / "img", 1)
    tid = _annotate(store, ALICE, project, [box(1, 2, 30, 40)])["id"]
    bob, rita = T.view(store, BOB, tid), T.view(store, RITA, tid)
    T.save(store, BOB, tid, bob["revision"], [box(5, 5, 20, 20)])
    with pytest.raises(Conflict) as refused:
        T.save(store, RITA, tid, rita["revision"], [box(6, 6, 21, 21, cls=1)])
    assert refused.value.current["boxes"][0]["box"] == [5, 5, 20, 20]
    kept = [e for e in task_events(store, tid) if e["action"] == "conflict"]
    assert kept[0]["user"] == "rita" and kept[0]["boxes_after"][0]["box"] == [6, 6, 21, 21]
    # A stale approval is a conflict too, and does not move the task.
    with pytest.raises(Conflict):
        T.approve(store, RITA, tid, rita["revision"])
    assert T.view(store, RITA, tid)["stage"] == "review"


def test_overlap_merges_copies_and_annotators_see_only_their_own(store, tmp_path):
    project = project_with_tasks(store, tmp_path / "img", 1, overlap=2)
    a = T.next_task(store, ALICE, project)
    T.save(store, ALICE, a["id"], a["revision"], [box(10, 10, 30, 30), box(40, 5, 60, 20)])
    b = T.next_task(store, ANNA, project)
    assert b["id"] == a["id"] and b["boxes"] == []  # anna does not see alice's copy
    with pytest.raises(Forbidden, match="may see only the history of their tasks"):
        visible_events(store, VIC.__class__("zoe", "annotator"), a["id"])
    assert all(e["user"] == "anna" or e["action"] == "import" for e in visible_events(
        store, ANNA, a["id"]))  # fmt: skip
    # A third annotator finds no room.
    carl = VIC.__class__("carl", "annotator")
    assert T.next_task(store, carl, project) is None
    mine = T.view(store, ALICE, a["id"])
    T.save(store, ALICE, a["id"], mine["revision"], mine["boxes"], submit=True)
    assert T.view(store, BOB, a["id"])["stage"] == "annotate"  # waits for anna
    merged = T.save(store, ANNA, b["id"], b["revision"], [box(11, 11, 31, 31, cls=1)], submit=True)
    assert merged["stage"] == "review"
    labels = T.view(store, BOB, a["id"])
    assert labels["agreement"] == 0.0  # one box each side of a class disagreement, one missed
    disputed = [lb for lb in labels["boxes"] if lb.get("disputed")]
    assert len(labels["boxes"]) == 2 and len(disputed) == 2  # nothing dropped, both flagged


def test_the_audit_trail_replays_to_the_task(store, tmp_path):
    project = project_with_tasks(store, tmp_path / "img", 2, overlap=2)
    for who in (ALICE, ANNA):
        t = T.next_task(store, who, project)
        T.save(store, who, t["id"], t["revision"], [box(10, 10, 30, 30)])
        t = T.view(store, who, t["id"])
        T.save(store, who, t["id"], t["revision"], [box(10, 10, 31, 30)], submit=True)
    seen = T.view(store, BOB, t["id"])
    T.reject(store, BOB, t["id"], seen["revision"], {"text": "tighter", "box": None})
    fix = T.view(store, ALICE, t["id"])
    T.save(store, ALICE, t["id"], fix["revision"], [box(11, 11, 30, 30)], submit=True)
    seen = T.view(store, BOB, t["id"])
    T.approve(store, BOB, t["id"], seen["revision"])
    history = task_events(store, t["id"])
    assert replay(history) == current(store, t["id"])
    assert current(store, t["id"]).state == "done"
    # Every event names who, when and what; boxes before and after where boxes changed.
    saves = [e for e in history if e["action"] in ("save", "submit")]
    assert all(e["user"] and e["at"] and e["boxes_after"] is not None for e in saves)


def test_bad_boxes_are_refused_with_their_index_and_never_clipped(store, tmp_path):
    project = project_with_tasks(store, tmp_path / "img", 1)
    t = T.next_task(store, ALICE, project)
    cases = [
        ([box(1, 2, 90, 40)], "box 0: .* outside the 80x60 image"),
        ([box(1, 2, 30, 40), box(30, 40, 10, 50)], "box 1: .* has no area"),
        ([box(1, 2, 30, 40, cls=5)], "box 0: class 5 is not one of 0..1"),
        ([{"box": [1, 2, float("nan"), 4], "cls": 0}], "box 0: coordinates must be finite"),
        ([{"box": [1, 2, 3], "cls": 0}], r"box 0: box must be \[x1, y1, x2, y2\]"),
    ]
    for boxes, message in cases:
        with pytest.raises(LabelError, match=message):
            T.save(store, ALICE, t["id"], t["revision"], boxes)
    assert T.view(store, ALICE, t["id"])["boxes"] == []


def test_accepted_proposals_are_counted_and_marked(store, tmp_path):
    from sqlalchemy import update

    from yolops.label.tables import tasks

    project = project_with_tasks(store, tmp_path / "img", 1)
    proposals = [
        {"box": [1, 2, 30, 40], "cls": 0, "score": 0.9},
        {"box": [40, 5, 60, 20], "cls": 1, "score": 0.8},
        {"box": [50, 30, 70, 50], "cls": 0, "score": 0.1},  # under the project's 0.25: hidden
    ]
    with store.begin("test") as conn:
        conn.execute(update(tasks).values(proposals=proposals, uncertainty=1.0))
    t = T.next_task(store, ALICE, project)
    assert len(t["proposals"]) == 2
    # One kept as is, one moved: the moved one is a person's box now.
    done = T.save(
        store, ALICE, t["id"], t["revision"], [box(1, 2, 30, 40), box(41, 5, 60, 20, 1)], True
    )
    assert [b["source"] for b in done["boxes"]] == ["model", "human"]
    person = next(p for p in status(store, project)["people"] if p["user"] == "alice")
    assert person["proposals_accepted"] == 0.5 and person["submitted"] == 1


def test_queues_order_by_uncertainty_and_by_likely_errors(store, tmp_path):
    from sqlalchemy import update

    from yolops.label.tables import tasks

    project = project_with_tasks(store, tmp_path / "img", 3)
    with store.begin("test") as conn:
        for tid, unsure in ((1, 0.5), (2, 3.0), (3, None)):
            conn.execute(update(tasks).where(tasks.c.id == tid).values(uncertainty=unsure))
    assert [t["id"] for t in T.queue(store, ALICE, project)[1]] == [2, 1, 3]
    for _ in range(3):
        _annotate(store, ALICE, project, [box(1, 2, 30, 40)])
    with store.begin("test") as conn:
        for tid, score in ((1, 0.9), (2, 0.1), (3, 0.5)):
            conn.execute(update(tasks).where(tasks.c.id == tid).values(error_score=score))
    assert [t["id"] for t in T.queue(store, BOB, project)[1]] == [1, 3, 2]


def test_next_holds_a_task_so_two_reviewers_get_different_ones(store, tmp_path):
    project = project_with_tasks(store, tmp_path / "img", 2)
    for _ in range(2):
        _annotate(store, ALICE, project, [box(1, 2, 30, 40)])
    first = T.next_task(store, BOB, project, "review")
    second = T.next_task(store, RITA, project, "review")
    assert first["id"] != second["id"]
    assert T.next_task(store, BOB, project, "review")["id"] == first["id"]  # still bob's


def test_a_released_copy_frees_the_task_and_stays_in_the_history(store, tmp_path):
    project = project_with_tasks(store, tmp_path / "img", 1)
    t = T.next_task(store, ALICE, project, "annotate")
    T.save(store, ALICE, t["id"], t["revision"], [box(1, 2, 30, 40)])
    assert T.next_task(store, ANNA, project, "annotate") is None  # alice holds it
    with pytest.raises(Forbidden, match="may not hold or release"):
        T.release(store, VIC, t["id"], "alice")
    with pytest.raises(Forbidden, match="may not release alice's copy"):
        T.release(store, ANNA, t["id"], "alice")
    T.release(store, ALICE, t["id"])
    taken = T.next_task(store, ANNA, project, "annotate")
    assert taken["id"] == t["id"] and taken["boxes"] == []  # anna starts afresh
    released = [e for e in task_events(store, t["id"]) if e["action"] == "release"]
    assert released[0]["details"] == {"user": "alice"}
    saved = [e for e in task_events(store, t["id"]) if e["action"] == "save"]
    assert saved[0]["boxes_after"][0]["box"] == [1, 2, 30, 40]  # alice's boxes kept
