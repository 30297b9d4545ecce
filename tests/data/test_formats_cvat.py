"""CVAT for images 1.1 XML: labels, subsets, occluded and attributes, shapes that are
not boxes, and every bad input reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from yolops.data.dataset import load_dataset, save_dataset
from yolops.data.formats import cvat, detect_format, voc
from yolops.data.synth import SynthConfig, generate, generate_to
from yolops.errors import DataLoadError, DatasetFormatError
from yolops.issues import IssueLog, Severity

from issue_support import one_issue

XML = "annotations.xml"


@pytest.fixture
def written(tiny_dataset, tmp_path) -> Path:
    """The tiny dataset saved as CVAT; returns the dataset folder."""
    return save_dataset(tiny_dataset, tmp_path / "cvat", "cvat")


def with_image_0(folder: Path, *shapes: str, size: str = 'width="64" height="48"') -> None:
    """Replace img_0's ``<image>`` (64x48) by one holding ``shapes``."""
    xml = folder / XML
    text = xml.read_text()
    start = text.index('<image id="0"')
    end = text.index("<image", start + 1)
    image = f'<image id="0" name="img_0.png" subset="Train" {size}>{"".join(shapes)}</image>\n  '
    xml.write_text(text[:start] + image + text[end:])


def box(xtl, ytl, xbr, ybr, label="cat", **extra) -> str:
    attrs = "".join(f' {k}="{v}"' for k, v in extra.items())
    return f'<box label="{label}" xtl="{xtl}" ytl="{ytl}" xbr="{xbr}" ybr="{ybr}"{attrs}/>'


# -- writing and reading -------------------------------------------------------------------


def test_writes_cvat_layout(written):
    tree = cvat.load_xml(written / XML, IssueLog())
    assert tree.findtext("version") == "1.1"
    assert cvat.label_names(tree, written / XML) == ("cat", "dog", "bird")
    images = tree.findall("image")
    assert [(i.get("id"), i.get("name"), i.get("subset")) for i in images] == [
        ("0", "img_0.png", "Train"),
        ("1", "img_1.png", "Train"),
        ("2", "img_2.png", "Train"),
        ("3", "img_3.png", "Validation"),
        ("4", "img_4.png", "Validation"),
        ("5", "img_5.png", "Test"),
        ("6", "sub/img_6.png", None),
    ]
    [element] = images[1].findall("box")  # img_1's box (3.25, 3.5, 21.75, 17), class dog
    assert element.attrib == {
        "label": "dog",
        "source": "manual",
        "occluded": "0",
        "xtl": "3.25",
        "ytl": "3.5",
        "xbr": "21.75",
        "ybr": "17",
        "z_order": "0",
    }
    assert (images[1].get("width"), images[1].get("height")) == ("80", "60")
    assert (written / "images/sub/img_6.png").is_file()


def test_reads_back_what_it_wrote(tiny_dataset, written, assert_same_labels):
    for source in (written, written / XML):
        assert detect_format(source) == "cvat"
    ds = load_dataset(written)
    assert not ds.issues, [str(i) for i in ds.issues]
    assert_same_labels(tiny_dataset, ds)
    assert ds["img_2"].attributes == {"occluded": ds["img_2"].attributes["occluded"]}
    assert ds["img_2"].attributes["occluded"].tolist() == [0, 0]


def test_not_confused_with_voc(written, tiny_dataset, tmp_path):
    out = save_dataset(tiny_dataset, tmp_path / "voc", "voc")
    assert not cvat.detect(out) and not cvat.detect(out / "Annotations/img_0.xml")
    assert not voc.detect(written)


def test_attributes_survive_voc_and_coco(tiny_dataset, tmp_path):
    flagged = tiny_dataset["img_1"].replace(
        attributes={"difficult": [1], "truncated": [1], "occluded": [1]}
    )
    ds = tiny_dataset.map(lambda r: flagged if r.id == "img_1" else r)
    step = load_dataset(save_dataset(ds, tmp_path / "a", "cvat"))
    assert step["img_1"].attributes["occluded"].tolist() == [1]
    step = load_dataset(save_dataset(step, tmp_path / "b", "coco"))
    step = load_dataset(save_dataset(step, tmp_path / "c", "cvat"))
    assert not step.issues, [str(i) for i in step.issues]
    for name in ("difficult", "truncated", "occluded"):
        assert step["img_1"].attributes[name].tolist() == [1], name
    back = load_dataset(save_dataset(step, tmp_path / "d", "voc"))
    assert back["img_1"].attributes["difficult"].tolist() == [1]
    assert back["img_1"].attributes["truncated"].tolist() == [1]


def test_attribute_values():
    assert cvat.attribute_value("true") is True and cvat.attribute_value("false") is False
    assert cvat.attribute_value(" 3 ") == 3 and cvat.attribute_value("-2.5") == -2.5
    assert cvat.attribute_value("sitting") == "sitting" and cvat.attribute_value("nan") == "nan"
    assert [cvat.attribute_text(v) for v in (np.bool_(True), np.int64(1), 0.1, "x")] == [
        "true",
        "1",
        "0.1",
        "x",
    ]


@pytest.mark.parametrize(
    "subset, split",
    [
        ("Train", "train"),
        ("training", "train"),
        ("Validation", "val"),
        ("val", "val"),
        ("Test", "test"),
        ("default", None),
        ("", None),
        (None, None),
        ("Holdout", "Holdout"),
    ],
)
def test_subsets_to_splits(subset, split):
    assert cvat.split_of_subset(subset) == split


def test_generated_data_loads_strictly_as_generated(tmp_path, assert_same_labels):
    config = SynthConfig(num_images=8, image_size=(160, 120), max_size=48)
    expected = generate(tmp_path / "ref", config)
    ds = load_dataset(generate_to(tmp_path / "cvat", "cvat", config), strict=True)
    assert_same_labels(expected, ds, atol=1e-3)
    assert ds.split_of(expected.ids[0]) == expected.split_of(expected.ids[0])


# -- a real export ------------------------------------------------------------------------

PROJECT_XML = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <project>
      <id>3</id>
      <name>pets</name>
      <labels>
        <label>
          <name>cat</name>
          <color>#fa3253</color>
          <type>rectangle</type>
          <attributes>
            <attribute>
              <name>pose</name>
              <mutable>False</mutable>
              <input_type>select</input_type>
              <default_value>sitting</default_value>
              <values>sitting
standing</values>
            </attribute>
            <attribute>
              <name>difficult</name>
              <mutable>False</mutable>
              <input_type>checkbox</input_type>
              <default_value>false</default_value>
              <values>false
true</values>
            </attribute>
          </attributes>
        </label>
        <label><name>puddle</name><type>polygon</type><attributes/></label>
        <label><name>dog</name><type>any</type><attributes/></label>
        <label><name>person</name><type>skeleton</type><attributes/></label>
        <label><name>nose</name><type>points</type><attributes/><parent>person</parent></label>
      </labels>
      <subsets>Train
Validation</subsets>
    </project>
    <dumped>2024-05-01 10:00:00.000000+00:00</dumped>
  </meta>
  <image id="0" name="cat.png" subset="Train" task_id="7" width="200" height="100">
    <box label="cat" source="manual" occluded="1" xtl="10.00" ytl="20.00" xbr="70.50"
         ybr="60.25" z_order="0">
      <attribute name="pose">sitting</attribute>
      <attribute name="difficult">true</attribute>
    </box>
    <polygon label="puddle" source="manual" occluded="0" points="1.00,1.00;5.00,1.00;5.00,5.00"
             z_order="0">
    </polygon>
    <tag label="cat" source="manual">
    </tag>
  </image>
  <image id="1" name="dog.png" subset="Validation" task_id="8" width="40" height="30">
    <box label="dog" source="auto" occluded="0" xtl="1.00" ytl="2.00" xbr="30.00" ybr="25.00"
         z_order="0">
    </box>
    <box label="dog" source="manual" occluded="0" xtl="5.00" ytl="5.00" xbr="15.00" ybr="15.00"
         rotation="45.00" z_order="0">
    </box>
  </image>
  <image id="2" name="bird.png" subset="Holdout" task_id="9" width="40" height="30">
  </image>
  <image id="3" name="fox.png" subset="default" task_id="9" width="40" height="30">
  </image>
</annotations>
"""


@pytest.fixture
def export(tmp_path) -> Path:
    """A CVAT project export: images under images/<subset>/ (and two elsewhere), a
    polygon, a tag, a rotated box, attributes, subsets CVAT's way and one of its own."""
    root = tmp_path / "cvat"
    for name, size in {
        "images/Train/cat.png": (200, 100),
        "images/dog.png": (40, 30),
        "bird.png": (40, 30),
        "images/default/fox.png": (40, 30),
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size).save(root / name)
    (root / XML).write_text(PROJECT_XML)
    return root


def test_a_real_export(export):
    assert detect_format(export) == "cvat"
    ds = load_dataset(export)
    # ids are paths under images/, so that two subsets may hold the same file name
    assert ds.ids == ["Train/cat", "dog", "bird", "default/fox"]
    assert ds.class_names == ("cat", "dog")  # box labels only, in meta's order
    assert ds.splits == {"train": ("Train/cat",), "val": ("dog",), "Holdout": ("bird",)}
    cat = ds["Train/cat"]
    np.testing.assert_array_equal(cat.boxes, [[10, 20, 70.5, 60.25]])
    assert cat.attributes["occluded"].tolist() == [1]
    assert cat.attributes["pose"].tolist() == ["sitting"]
    assert cat.attributes["difficult"].tolist() == [True]
    dog = ds["dog"]
    np.testing.assert_array_equal(dog.boxes, [[1, 2, 30, 25]])  # the rotated one set aside
    assert dog.attributes.keys() == {"occluded", "pose", "difficult"}
    got = [(i.code, i.severity, i.location) for i in ds.issues]
    assert got == [
        ("shape_skipped", Severity.WARNING, "image id 0"),
        ("box_rotated", Severity.ERROR, "image id 1, box 2"),
        ("split_unknown", Severity.INFO, None),
    ]
    assert "polygon x1, tag x1" in ds.issues.issues[0].message
    assert "45 degrees" in ds.issues.issues[1].message
    assert "'Holdout' (1 image(s))" in ds.issues.issues[2].message
    with pytest.raises(DataLoadError) as err:
        load_dataset(export, strict=True)
    assert [i.code for i in err.value.issues] == ["shape_skipped", "box_rotated"]


def test_task_export_subset_and_no_labels(export):
    """A task export names its subset once in <meta>; without labels in <meta> the
    class order is the order of first appearance."""
    text = PROJECT_XML.replace(' subset="Train"', "").replace(' subset="Validation"', "")
    start, end = text.index("<project>"), text.index("</project>") + len("</project>")
    text = text[:start] + "<task><subset>Validation</subset></task>" + text[end:]
    (export / XML).write_text(text)
    (export / "images/Train/cat.png").rename(export / "images/cat.png")
    ds = load_dataset(export)
    assert ds.class_names == ("cat", "dog")
    assert ds.splits["val"] == ("cat", "dog") and ds.split_of("bird") == "Holdout"


# -- bad input ------------------------------------------------------------------------

BAD_BOXES = [
    ('<box label="cat" xtl="1" ytl="1" xbr="5"/>', "box_malformed", "no ybr"),
    (box(1, "a", 5, 5), "box_malformed", "ytl is 'a'"),
    (box(1, "nan", 5, 5), "box_nonfinite", "non-finite"),
    (box(10, 1, 5, 5), "box_inverted", "x2 < x1"),
    (box(5, 5, 5, 9), "box_zero_area", "zero area"),
    (box(100, 1, 110, 5), "box_outside_image", "wholly outside"),
    (box(1, 1, 5, 5, rotation="x"), "box_malformed", "rotation is 'x'"),
    (box(1, 1, 5, 5, rotation="30.00"), "box_rotated", "rotated by 30 degrees"),
    (box(1, 1, 5, 5, label="horse"), "class_unknown", "'horse'"),
    ('<box xtl="1" ytl="1" xbr="5" ybr="5"/>', "class_unknown", "label None"),
]


def test_bad_boxes_are_reported_and_good_ones_load(written):
    odd = (
        '<box label="dog" xtl="2" ytl="2" xbr="9" ybr="9" occluded="yes">'
        "<attribute>x</attribute></box>"
    )
    boxes = [box(0, 0, 10, 10)] + [b for b, _, _ in BAD_BOXES] + [box(60, 40, 70, 48), odd]
    with_image_0(written, *boxes)
    ds = load_dataset(written)
    got = [i for i in ds.issues if i.path == XML]
    n = len(BAD_BOXES)
    assert [(i.code, i.location) for i in got] == [
        (code, f"image id 0, box {k}") for k, (_, code, _) in enumerate(BAD_BOXES, 2)
    ] + [
        ("box_out_of_bounds", f"image id 0, box {n + 2}"),
        ("attribute_invalid", f"image id 0, box {n + 3}"),
        ("attribute_invalid", f"image id 0, box {n + 3}"),
    ]
    for issue, (_, _, words) in zip(got, BAD_BOXES):
        assert issue.severity is Severity.ERROR and issue.image_id == "img_0", issue
        assert words in issue.message, issue
    assert all(i.severity is Severity.WARNING for i in got[n:])
    assert "no name" in got[-2].message and "'yes', not 0 or 1" in got[-1].message
    np.testing.assert_array_equal(
        ds["img_0"].boxes, [[0, 0, 10, 10], [60, 40, 70, 48], [2, 2, 9, 9]]
    )
    assert ds["img_0"].attributes["occluded"].tolist() == [0, 0, 0]
    assert len(ds) == 7 and len(ds.issues) == len(got)
    with pytest.raises(DataLoadError) as err:
        load_dataset(written, strict=True)
    assert len(err.value.issues) == len(got)
    assert all(f"{XML} ({i.location})" in str(err.value) for i in got)


def test_bad_images_are_reported_and_good_ones_load(written):
    xml = written / XML
    text = xml.read_text()
    text = text.replace('name="img_1.png"', 'name="../../etc/passwd.png"')
    text = text.replace('name="img_2.png"', 'name="ghost.png"')
    text = text.replace('<image id="3" name="img_3.png"', '<image id="3"')
    text = text.replace('name="img_4.png"', 'name="img_0.png"')  # img_0 again
    text = text.replace(
        'img_5.png" subset="Test" width="80"', 'img_5.png" subset="Test" width="800"'
    )
    xml.write_text(text)
    ds = load_dataset(written)
    got = [(i.code, i.severity, i.location) for i in ds.issues]
    assert got == [
        ("path_escapes_root", Severity.ERROR, "image id 1"),
        ("image_missing", Severity.ERROR, "image id 2"),
        ("record_malformed", Severity.ERROR, "image id 3"),
        ("image_id_duplicate", Severity.ERROR, "image id 4"),
        ("size_mismatch", Severity.WARNING, "image id 5"),
    ]
    messages = [i.message for i in ds.issues]
    assert "'../../etc/passwd.png'" in messages[0] and "1 shape(s)" in messages[0]
    assert "images/ghost.png, ghost.png" in messages[1] and ds.issues.issues[1].image_id == "ghost"
    assert "800x60 " in messages[4] and "80x60;" in messages[4]
    assert ds.ids == ["img_0", "img_5", "sub/img_6"]
    assert ds.splits == {"train": ("img_0",), "test": ("img_5",)}


@pytest.mark.parametrize(
    "how, code",
    [
        ("garbage", "image_unreadable"),
        ("truncated", "image_truncated"),
        ("text", "image_unreadable"),
    ],
)
def test_broken_images_are_set_aside(make_tiny_dataset, tmp_path, break_image, how, code):
    out = save_dataset(make_tiny_dataset(suffix=".jpg"), tmp_path / "cvat", "cvat")
    break_image(out / "images/img_4.jpg", how)
    ds = load_dataset(out)
    issue = one_issue(ds, code)
    assert (issue.severity, issue.path, issue.image_id) == (
        Severity.ERROR,
        "images/img_4.jpg",
        "img_4",
    )
    assert f"{XML}, image id 4" in issue.message
    assert "img_4" not in ds and len(ds) == 6 and ds.splits["val"] == ("img_3",)
    with pytest.raises(DataLoadError, match="images/img_4.jpg"):
        load_dataset(out, strict=True)


def test_malformed_xml_names_file_line_and_column(written):
    (written / XML).write_text("<annotations>\n<version>1.1</version>\n<image>\n</annotations>\n")
    with pytest.raises(
        DatasetFormatError, match=r"annotations\.xml: malformed XML at line 4, column 2"
    ):
        load_dataset(written)


def test_structural_problems_raise(written):
    text = (written / XML).read_text()
    (written / XML).write_text(text.replace("<version>1.1</version>", "<version>1.0</version>"))
    assert one_issue(load_dataset(written), "format_version").severity is Severity.INFO
    (written / XML).write_text("<annotation><object/></annotation>")
    assert not cvat.detect(written)
    with pytest.raises(DatasetFormatError, match="root element is <annotation>"):
        load_dataset(written / XML, format="cvat")
    (written / XML).write_text('<annotations><track id="0" label="cat"/></annotations>')
    with pytest.raises(DatasetFormatError, match="CVAT for video"):
        load_dataset(written)
    (written / XML).write_text(text.replace("<name>dog</name>", "<name>cat</name>"))
    with pytest.raises(DatasetFormatError, match="repeats a label"):
        load_dataset(written)
    (written / "more.xml").write_text(text)
    with pytest.raises(DatasetFormatError, match="holds 2 CVAT XML files"):
        load_dataset(written, format="cvat")


def test_cli_converts_to_and_from_cvat(written, tmp_path, assert_same_labels):
    out = tmp_path / "ls"
    done = subprocess.run(
        [sys.executable, "-m", "yolops.cli.main", "data", "convert", str(written), str(out)]
        + ["--to", "labelstudio", "--strict"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert detect_format(out) == "labelstudio"
    assert_same_labels(load_dataset(written), load_dataset(out))
