"""The labeling studio in a real browser (Playwright driving Debian's Chromium): an
annotator accepts two of the model's proposals, corrects one of them by dragging a
corner, draws the object the model missed and submits; the reviewer rejects it with
a comment pinned to a box; the annotator fixes that box and submits again; the
reviewer approves; a manager exports, and the new dataset version holds exactly the
boxes the people left in the browser.

Screenshots of every view are written to ``<tmp>/screens``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolops.data.dataset import Dataset
from yolops.detections import Detections
from yolops.identity import Actor, UserStore
from yolops.label.importing import add_tasks
from yolops.label.prelabel import prelabel
from yolops.label.projects import create_project
from yolops.label.store import LabelStore
from yolops.label.web.server import background_label_server
from yolops.workspace import Workspace

expect = pytest.importorskip("playwright.sync_api").expect

W, H = 640, 480
# A submit that reaches review scores the labels (cleanlab): the first one in a process
# imports it, which takes a while on a busy machine.
SLOW = 120_000
CLASSES = ("cell", "blob")
PASSWORDS = {"alice": "alice-pw-0123", "bob": "bob-pw-0123", "mia": "mia-pw-0123"}
# What is on the picture (class, box), and what the stand-in model proposes.
CELL_A = (0, [100, 100, 200, 200])
CELL_B = (0, [340, 240, 460, 360])
BLOB = (1, [500, 60, 560, 120])  # the model misses it
PROPOSALS = [  # (class, box, score)
    (0, [100, 100, 200, 200], 0.93),  # right: accepted as it is
    (0, [340, 240, 440, 345], 0.81),  # too small: accepted, then its corner dragged
    (1, [250, 390, 300, 440], 0.35),  # nothing there: ignored
]


def draw_scene(path: Path) -> Path:
    img = np.full((H, W, 3), (214, 196, 226), np.uint8)
    cv2.circle(img, (150, 150), 49, (70, 60, 190), -1)
    cv2.circle(img, (400, 300), 59, (140, 40, 120), -1)
    cv2.rectangle(img, (500, 60), (559, 119), (40, 120, 60), -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


class StandInDetector:
    """A detector whose answer is fixed: PROPOSALS for every image."""

    class_names = CLASSES

    def predict(self, images, conf=0.25, max_det=300):
        boxes = np.array([p[1] for p in PROPOSALS], np.float32)
        scores = np.array([p[2] for p in PROPOSALS], np.float32)
        classes = np.array([p[0] for p in PROPOSALS], np.int64)
        return [Detections(boxes, scores, classes, CLASSES) for _ in images]


@pytest.fixture
def studio(tmp_path, monkeypatch):
    """A workspace with one project of one image, pre-labeled, and three people."""
    ws = Workspace.resolve(tmp_path / "ws")
    store = LabelStore(ws)
    admin = Actor("cli:test", "admin")
    users = UserStore(ws.database_url)
    for name, role in (("alice", "annotator"), ("bob", "reviewer"), ("mia", "manager")):
        users.add(name, role, PASSWORDS[name])
    project = create_project(store, admin, "cells", CLASSES, ("annotate", "review"), 1)
    add_tasks(store, admin, project, draw_scene(tmp_path / "images" / "scene_001.png").parent)
    model = tmp_path / "detector.onnx"
    model.write_bytes(b"stand-in")
    monkeypatch.setattr("yolops.track.resolve.load_model", lambda *a, **k: StandInDetector())
    assert prelabel(store, admin, project, model=str(model)).proposals == len(PROPOSALS)
    with background_label_server(ws) as url:
        yield ws, url


class Session:
    """The page, its screenshots, and the HTTP answers that were errors."""

    def __init__(self, browsed, url: str, screens: Path):
        self.page = browsed.page
        self.browsed = browsed
        self.url = url
        self.screens = screens
        self.shots = 0
        self.failed: list[tuple[int, str, str]] = []
        self.page.on(
            "response",
            lambda r: r.status >= 400 and self.failed.append((r.status, r.request.method, r.url)),
        )
        self.page.set_viewport_size({"width": 1280, "height": 800})

    def shot(self, name: str) -> None:
        self.shots += 1
        self.page.screenshot(path=str(self.screens / f"{self.shots:02d}-{name}.png"))

    def login(self, name: str) -> None:
        page = self.page
        page.goto(f"{self.url}/#/login")
        page.get_by_test_id("login-name").fill(name)
        page.get_by_test_id("login-password").fill(PASSWORDS[name])
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("project-list")).to_be_visible()
        expect(page.get_by_test_id("user-name")).to_have_text(name)

    def logout(self) -> None:
        self.page.get_by_test_id("logout").click()
        expect(self.page.get_by_test_id("login-form")).to_be_visible()

    def open_project(self) -> None:
        self.page.get_by_test_id("project-cells").click()
        expect(self.page.get_by_test_id("project-dashboard")).to_be_visible()

    def start(self, stage: str) -> None:
        self.page.get_by_test_id(f"start-{stage}").click()
        editor = self.page.get_by_test_id("editor")
        expect(editor).to_have_attribute("data-stage", stage)
        expect(editor).to_have_attribute("data-ready", "true")

    def at(self, x: float, y: float) -> tuple[float, float]:
        """Where pixel (x, y) of the original image is on the screen now."""
        img = self.page.get_by_test_id("editor-image").bounding_box()
        return img["x"] + x * img["width"] / W, img["y"] + y * img["height"] / H

    def drag(self, start, end) -> None:
        mouse = self.page.mouse
        mouse.move(*self.at(*start))
        mouse.down()
        mouse.move(*self.at(*end), steps=15)
        mouse.up()

    def boxes(self) -> list[tuple[int, list[float]]]:
        """The boxes of the editor's list: (class, [x1, y1, x2, y2]) in image pixels."""
        items = self.page.get_by_test_id("box-item")
        return sorted(
            (int(i.get_attribute("data-cls")), json.loads(i.get_attribute("data-box")))
            for i in items.all()
        )


def near(box, target, tol=3.0) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(box, target))


def test_annotate_review_fix_approve_export(studio, browser_page, tmp_path):
    ws, url = studio
    screens = tmp_path / "screens"
    screens.mkdir()
    s = Session(browser_page, url, screens)
    page = s.page

    # -- the annotator
    page.goto(url)
    expect(page.get_by_test_id("login-form")).to_be_visible()
    s.shot("login")
    s.login("alice")
    s.shot("projects")
    s.open_project()
    expect(page.get_by_test_id("queue-row")).to_have_count(1)
    s.shot("dashboard-annotator")
    s.start("annotate")
    expect(page.get_by_test_id("proposal-item")).to_have_count(3)
    expect(page.get_by_test_id("box-item")).to_have_count(0)
    s.shot("annotate-proposals")

    # a click on a proposal accepts it; `a` accepts the highlighted (best remaining) one
    page.mouse.click(*s.at(150, 130))
    expect(page.get_by_test_id("box-item")).to_have_count(1)
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    expect(page.get_by_test_id("box-item")).to_have_count(2)
    expect(page.get_by_test_id("proposal-item")).to_have_count(1)  # the false one is left
    # the second was too small: drag its bottom-right corner onto the cell's edge
    s.drag((440, 345), (460, 360))
    page.keyboard.press("Escape")
    # the blob the model missed: class 2, drawn (a little too tight, the reviewer will say)
    page.keyboard.press("2")
    expect(page.get_by_test_id("class-1")).to_have_class(re.compile(r"\bactive\b"))
    s.drag((505, 66), (551, 111))
    expect(page.get_by_test_id("box-item")).to_have_count(3)
    page.keyboard.press("Escape")
    first = s.boxes()
    assert first[0][0] == 0 and first[0][1] == CELL_A[1]  # accepted unchanged
    assert first[1][0] == 0 and near(first[1][1], CELL_B[1])  # corrected by the drag
    assert first[2][0] == 1 and near(first[2][1], [505, 66, 551, 111])
    s.shot("annotate-edited")
    page.keyboard.press("Control+s")
    expect(page.get_by_test_id("save-status")).to_have_text("")
    page.get_by_test_id("submit").click()
    # nothing else to annotate: back to the project, the task waits for review
    expect(page.get_by_test_id("project-dashboard")).to_be_visible(timeout=SLOW)
    expect(page.get_by_test_id("stage-count-review")).to_have_text("1 waiting")
    s.logout()

    # -- the reviewer rejects, with a comment pinned to the blob's box
    s.login("bob")
    s.open_project()
    s.start("review")
    assert s.boxes() == first
    expect(page.get_by_test_id("approve")).to_be_visible()
    s.shot("review")
    page.get_by_test_id("box-item").filter(has_text="blob").click()
    page.keyboard.press("r")
    expect(page.get_by_test_id("reject-pin")).to_contain_text("blob box")
    page.get_by_test_id("reject-text").fill("The blob box is too tight: take its whole square.")
    s.shot("review-reject")
    page.get_by_test_id("reject-send").click()
    expect(page.get_by_test_id("project-dashboard")).to_be_visible()
    expect(page.get_by_test_id("stage-count-annotate")).to_have_text("1 waiting")
    s.logout()

    # -- the annotator sees the comment on the image, fixes the box and submits again
    s.login("alice")
    s.open_project()
    s.start("annotate")
    expect(page.get_by_test_id("rejected-banner")).to_contain_text("too tight")
    expect(page.get_by_test_id("comment-item")).to_have_count(1)
    expect(page.get_by_test_id("comment-marker")).to_have_count(1)
    expect(page.get_by_test_id("proposal-item")).to_have_count(1)  # handled ones stay away
    assert s.boxes() == first
    s.shot("fix-with-comment")
    page.get_by_test_id("box-item").filter(has_text="blob").click()
    s.drag((551, 111), (560, 120))
    s.drag((505, 66), (500, 60))
    page.keyboard.press("Escape")
    fixed = s.boxes()
    assert fixed[:2] == first[:2]
    assert fixed[2][0] == 1 and near(fixed[2][1], BLOB[1])
    s.shot("fix-done")
    page.keyboard.press("Control+Enter")  # submit
    expect(page.get_by_test_id("project-dashboard")).to_be_visible(timeout=SLOW)
    s.logout()

    # -- the reviewer approves (by key)
    s.login("bob")
    s.open_project()
    s.start("review")
    assert s.boxes() == fixed
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id("project-dashboard")).to_be_visible()
    expect(page.get_by_test_id("count-done")).to_have_text("done 1")
    s.logout()

    # -- a manager exports: a dataset version with exactly those boxes
    s.login("mia")
    s.open_project()
    page.get_by_test_id("export-to").fill("cells-labels")
    page.get_by_test_id("export").click()
    result = page.get_by_test_id("export-result")
    expect(result).to_have_attribute("data-version", re.compile(r"^cells-labels@"))
    s.shot("exported")
    version = result.get_attribute("data-version")
    dataset = Dataset.load(version, workspace=ws)
    (record,) = list(dataset)
    assert dataset.class_names == CLASSES
    got = sorted(
        (int(c), [round(float(v), 2) for v in b]) for b, c in zip(record.boxes, record.classes)
    )
    assert len(got) == len(fixed)
    for (gc, gb), (fc, fb) in zip(got, fixed):
        assert gc == fc and gb == pytest.approx(fb, abs=0.01)
    for (gc, gb), (tc, tb) in zip(got, sorted([CELL_A, CELL_B, BLOB])):
        assert gc == tc and near(gb, tb)

    # The only HTTP errors: "not logged in" before the first login, and the empty
    # queue that sends each person back to the project after their last task.
    assert {(st, m) for st, m, _ in s.failed} <= {(401, "GET"), (404, "POST")}, s.failed
    assert all(u.endswith("/api/me") for st, _, u in s.failed if st == 401), s.failed
    assert all(u.endswith("/next") for st, _, u in s.failed if st == 404), s.failed
    others = [e for e in browser_page.errors if "Failed to load resource" not in e]
    assert others == []
    assert s.shots == len(list(screens.glob("*.png")))


def test_a_conflict_keeps_the_edits_and_zoom_and_pan_draw_nothing(studio, chromium, tmp_path):
    """The same annotator in two tabs: the second save is refused (409), the page keeps
    its own boxes, shows the server's, and saves over them when told to."""
    ws, url = studio
    screens = tmp_path / "screens"
    screens.mkdir()
    contexts = [chromium.new_context() for _ in range(2)]
    try:
        check_conflict(contexts, url, screens)
    finally:
        for context in contexts:
            context.close()


def check_conflict(contexts, url: str, screens: Path) -> None:
    import browser_support

    sessions = []
    for context in contexts:
        s = Session(browser_support.watch(context.new_page()), url, screens)
        s.login("alice")
        s.page.goto(f"{url}/#/t/1?stage=annotate")
        expect(s.page.get_by_test_id("editor")).to_have_attribute("data-ready", "true")
        sessions.append(s)
    one, two = sessions
    one.page.keyboard.press("Shift+A")  # accept all three proposals
    expect(one.page.get_by_test_id("box-item")).to_have_count(3)
    one.page.keyboard.press("Control+s")
    expect(one.page.get_by_test_id("revision")).to_have_text("r1")

    page = two.page
    page.keyboard.press("2")
    two.drag((500, 60), (560, 120))
    expect(page.get_by_test_id("box-item")).to_have_count(1)
    page.keyboard.press("Control+s")
    expect(page.get_by_test_id("conflict-banner")).to_contain_text("revision 1")
    expect(page.get_by_test_id("box-item")).to_have_count(1)  # its own edits, kept
    page.get_by_test_id("conflict-show").click()
    expect(page.get_by_test_id("ghost-box")).to_have_count(3)
    two.shot("conflict")
    page.get_by_test_id("conflict-keep").click()
    expect(page.get_by_test_id("conflict-banner")).to_have_count(0)
    page.keyboard.press("Control+s")
    expect(page.get_by_test_id("revision")).to_have_text("r2")
    expect(page.get_by_test_id("save-status")).to_have_text("")

    # zoom with the wheel around the pointer, then pan with space + drag: no new box
    img = page.get_by_test_id("editor-image")
    width = img.bounding_box()["width"]
    page.mouse.move(*two.at(320, 240))
    page.mouse.wheel(0, -400)
    expect(img).not_to_have_css("width", f"{width}px")
    assert img.bounding_box()["width"] > width * 1.5
    before = img.bounding_box()
    page.keyboard.down(" ")
    two.drag((300, 200), (250, 170))
    page.keyboard.up(" ")
    after = img.bounding_box()
    assert after["x"] < before["x"] - 20 and after["y"] < before["y"] - 10
    expect(page.get_by_test_id("box-item")).to_have_count(1)
    page.keyboard.press("0")  # fit again
    page.keyboard.press("?")
    expect(page.get_by_test_id("help-overlay")).to_be_visible()
    two.shot("help")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("help-overlay")).to_be_hidden()

    for s in sessions:
        assert {(st, m) for st, m, _ in s.failed} <= {(401, "GET"), (409, "PUT")}, s.failed
        assert [e for e in s.browsed.errors if "Failed to load resource" not in e] == []
    assert [(st, m) for st, m, _ in two.failed if st == 409] == [(409, "PUT")]
