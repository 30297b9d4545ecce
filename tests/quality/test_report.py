"""The HTML report: one self-contained file whose pictures are embedded and show the
offending boxes. Parsed here, and rendered in headless Chromium through Playwright."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

import cv2
import numpy as np
import pytest

from yolops.data.dataset import Dataset, ImageRecord
from yolops.quality.report import OFFENDING, render_html, write_html
from yolops.quality.validate import QualityConfig, validate_dataset


class Page(HTMLParser):
    """Every tag's attributes, and the text, of an HTML page."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def images(self) -> list[dict]:
        return [a for t, a in self.tags if t == "img"]


def decode(uri: str) -> np.ndarray:
    head, data = uri.split(",", 1)
    assert head in ("data:image/jpeg;base64", "data:image/png;base64")
    image = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.size > 0
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def report(planted):
    return validate_dataset(planted[0])


def test_the_page_is_self_contained_and_every_picture_is_embedded(report, tmp_path):
    path = write_html(report, tmp_path / "sub" / "report.html", thumbnails=3, fail_on="error")
    page = Page(path.read_text(encoding="utf-8"))
    assert not [t for t, _ in page.tags if t in ("script", "link", "iframe")]
    assert not [
        a
        for _, a in page.tags
        if any(str(v).startswith(("http:", "https:", "//")) for v in a.values())
    ]
    images = page.images()
    plots = [a for a in images if a.get("class") == "plot"]
    assert len(plots) == 2  # box and image statistics (no drift without a reference)
    for a in images:
        decode(a["src"])
    text = " ".join(page.text)
    assert "FAILED" in text and "gate: fail on error" in text


def test_each_issue_code_with_images_gets_at_most_n_thumbnails(report):
    page = Page(render_html(report, thumbnails=2))
    sections = {}
    current = None
    for tag, attrs in page.tags:
        if tag == "section" and attrs.get("id", "").startswith("code-"):
            current = attrs["id"][5:]
            sections[current] = 0
        elif tag == "img" and current and attrs.get("class") != "plot":
            sections[current] += 1
    for code in ("box_degenerate", "image_dark", "image_blurry", "box_duplicate", "image_no_boxes"):
        assert 1 <= sections[code] <= 2, (code, sections)
    assert sections["split_leakage"] == 4  # two figures, each the copy beside its original
    assert sections["image_corrupt"] == 0  # nothing to show


def test_thumbnails_draw_the_offending_box_in_red(report):
    issue = next(i for i in report.issues if i.code == "box_duplicate")
    page = Page(render_html(report, thumbnails=50))
    figure_images = [a for a in page.images() if a.get("alt") == issue.image_id]
    assert figure_images
    red = [decode(a["src"]) for a in figure_images]
    target = np.array(OFFENDING)
    # JPEG blurs colours a little: count pixels near the offending red
    assert any((np.abs(im.astype(int) - target).sum(axis=2) < 60).sum() > 50 for im in red)


def test_names_are_escaped_and_drift_is_plotted(shapes, tmp_path):
    r = shapes[0]
    odd = Dataset(
        [r.replace(id="<b>odd</b>")],
        shapes.class_names,
        name="<script>x</script>",
        root=shapes.root,
    )
    report = validate_dataset(odd, against=shapes.split("train"), config=QualityConfig())
    html = render_html(report)
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<b>odd</b>" not in html
    page = Page(html)
    assert len([a for a in page.images() if a.get("class") == "plot"]) == 3  # + drift plots
    assert any(t == "section" and a.get("id") == "drift" for t, a in page.tags)


def test_a_clean_report_says_so(tmp_path):
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8))
    ds = Dataset([ImageRecord("a", path, 60, 40, [[5, 5, 30, 30]], [0])], ["thing"], root=tmp_path)
    report = validate_dataset(ds)
    assert "No issues found." in render_html(report)


def test_chromium_renders_the_pictures(report, tmp_path, browser_page):
    """Opened offline in headless Chromium (Playwright): every picture decodes and has
    a size on the page, the header and every section are there, the console is quiet."""
    path = write_html(report, tmp_path / "report.html", thumbnails=2, fail_on="error")
    expected = Page(path.read_text(encoding="utf-8"))
    page = browser_page.page
    page.goto(path.as_uri(), wait_until="load")

    images = page.eval_on_selector_all(
        "img",
        """imgs => imgs.map(i => ({alt: i.alt, cls: i.className, complete: i.complete,
            width: i.naturalWidth, shown: i.getBoundingClientRect().width}))""",
    )
    assert len(images) == len(expected.images()) > 2
    assert [i for i in images if not (i["complete"] and i["width"] > 0 and i["shown"] > 0)] == []
    assert len([i for i in images if i["cls"] == "plot"]) == 2

    name = report.dataset.name
    assert page.title() == f"Quality report: {name}"
    assert page.locator("h1").inner_text() == f"Quality report: {name}"
    assert "FAILED" in page.locator(".card.gate-fail").inner_text()
    assert page.locator("h2").all_inner_texts() == ["Issues by code", "Dataset", "Schema"]
    sections = page.eval_on_selector_all("section[id]", "s => s.map(x => x.id)")
    codes = {f"code-{i.code}" for i in report.issues}
    assert set(sections) == {"issues", "dataset", "schema"} | codes
    assert page.locator("#code-box_duplicate figure img").count() >= 1
    assert browser_page.errors == []


XSS = "<img src=x onerror=alert(1)>"


def assert_inert(html: str) -> None:
    """``XSS`` shows as text wherever it is printed, and never becomes a tag or attribute."""
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    tags = Page(html).tags
    assert not [a for _, a in tags if "onerror" in a], "an onerror attribute got through"
    assert not [a for t, a in tags if t == "img" and a.get("src") == "x"]


def test_a_class_name_and_a_file_name_that_are_markup_stay_text(tmp_path):
    """Issue 16, item 13: every value is escaped by the template, none by hand."""
    path = tmp_path / f"{XSS}.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8))
    boxes = [[5, 5, 30, 30], [5, 5, 30, 30]]  # a duplicate: an issue with a thumbnail
    ds = Dataset(
        [ImageRecord(XSS, path, 60, 40, boxes, [0, 0])], [XSS, "ok"], name=XSS, root=tmp_path
    )
    report = validate_dataset(ds, config=QualityConfig())
    html = render_html(report, fail_on="warning")
    assert_inert(html)
    page = Page(html)
    assert any(a.get("alt") == XSS for a in page.images())  # the thumbnail of the image
    assert f"Quality report: {XSS}" in "".join(page.text)
