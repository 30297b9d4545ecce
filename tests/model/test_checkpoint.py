"""Checkpoints: save/load round trips, the atomic write, every kind of unusable file
raising ModelError that names it, weights that do not fit, and that loading never runs
code from the file."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from yolops.errors import ModelError
from yolops.model.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from yolops.model.yolo import SCALES, build_model
from yolops.train.ema import ModelEMA

SCALE = next(iter(SCALES))  # the smallest: these tests are about files, not networks
NAMES = ["cat", "dog"]
IMGSZ = 64


def trained_state(seed: int = 0) -> dict:
    """A checkpoint shaped like the trainer's last.pt: weights with non-trivial BatchNorm
    statistics (one training-mode pass), the raw model, an EMA, an optimizer with momentum
    buffers, the RNG state, and plain Python records."""
    torch.manual_seed(seed)
    model = build_model(SCALE, len(NAMES))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    ema = ModelEMA(model, decay=0.9, tau=1.0)
    model.train()
    model(torch.rand(2, 3, IMGSZ, IMGSZ)).cls_logits.sum().backward()
    optimizer.step()
    ema.update(model)
    return {
        "model": ema.module.state_dict(),
        "raw_model": model.state_dict(),
        "ema": ema.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scale": SCALE,
        "class_names": list(NAMES),
        "imgsz": IMGSZ,
        "epoch": 3,
        "iteration": 42,
        "best_fitness": 0.25,
        "history": [{"epoch": 1, "val/map50": 0.5}],
        "config": {"model": SCALE, "lr0": 0.01},
        "torch_rng": torch.get_rng_state(),
        "yolops": "test",
    }


def assert_same(a, b, where: str = "state") -> None:
    """Recursive equality: tensors by value, dtype and shape; everything else by ==."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b and type(a) is type(b), where


def images(seed: int = 1) -> torch.Tensor:
    return torch.rand(2, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(seed))


# -- round trips -------------------------------------------------------------------------


def test_save_then_load_gives_the_same_state_and_predictions(tmp_path):
    """Everything the trainer saves comes back identical (values, dtypes, key order), and
    the model built from it has the same weights and predicts bit for bit the same."""
    state = trained_state()
    path = tmp_path / "runs" / "exp" / "weights" / "last.pt"  # parents are created
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)
    assert_same(state, loaded)
    model = model_from_checkpoint(loaded, str(path))
    assert not model.training
    assert_same(state["model"], model.state_dict())
    reference = build_model(SCALE, len(NAMES))
    reference.load_state_dict(state["model"])
    reference.eval()
    with torch.no_grad():
        want, got = reference(images()), model(images())
    assert torch.equal(got.box_dist, want.box_dist) and torch.equal(got.cls_logits, want.cls_logits)


def test_a_string_path_loads_too(tmp_path):
    """load_checkpoint takes a str as well as a Path."""
    state = trained_state()
    save_checkpoint(tmp_path / "best.pt", state)
    assert_same(state["model"], load_checkpoint(str(tmp_path / "best.pt"))["model"])


def test_atomic_write_leaves_only_the_checkpoint(tmp_path):
    """After a save, and after overwriting it, the folder holds the checkpoint alone (no
    .tmp file) and a second save replaces the first's content."""
    path = tmp_path / "last.pt"
    first, second = trained_state(seed=0), trained_state(seed=1)
    save_checkpoint(path, first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    save_checkpoint(path, {**second, "epoch": 4})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 4
    assert_same(second["model"], loaded["model"])


def failing_save(obj, f, *args, **kwargs):
    """torch.save that dies half-way through, as on a full disk."""
    Path(f).write_bytes(b"PK\x03\x04 half a checkpoint")
    raise OSError(28, "No space left on device")


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """A write that fails half-way leaves the previous checkpoint as it was."""
    path = tmp_path / "last.pt"
    state = trained_state()
    save_checkpoint(path, state)
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, {**state, "epoch": 99})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == state["epoch"]


def test_a_failed_save_leaves_no_partial_tmp_file(tmp_path, monkeypatch):
    """A write that fails half-way does not leave its partial .tmp file behind (as
    export_onnx does not): only the previous checkpoint remains in the folder."""
    path = tmp_path / "last.pt"
    save_checkpoint(path, trained_state())
    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError):
        save_checkpoint(path, {"epoch": 99})
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


# -- unusable files ----------------------------------------------------------------------


def truncated(path: Path) -> None:
    save_checkpoint(path, trained_state())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def empty(path: Path) -> None:
    path.write_bytes(b"")


def bare_state_dict(path: Path) -> None:
    """A bare state dict, as torch.save(model.state_dict()) writes it."""
    save_checkpoint(path, trained_state()["model"])


def missing_imgsz(path: Path) -> None:
    state = trained_state()
    del state["imgsz"]
    save_checkpoint(path, state)


def a_tensor(path: Path) -> None:
    """A readable torch file that holds a tensor, not a dict."""
    torch.save(torch.zeros(3), path)


def nothing(path: Path) -> None:
    """A readable torch file that holds None."""
    torch.save(None, path)


UNUSABLE = [
    (truncated, "not a readable yolops checkpoint"),
    (random_bytes, "not a readable yolops checkpoint"),
    (empty, "not a readable yolops checkpoint"),
    (bare_state_dict, "missing model, scale, class_names, imgsz"),
    (missing_imgsz, "not a yolops checkpoint (missing imgsz)"),
    (a_tensor, "not a yolops checkpoint"),
    (nothing, "not a yolops checkpoint"),
]


@pytest.mark.parametrize("make, message", UNUSABLE, ids=[make.__name__ for make, _ in UNUSABLE])
def test_unusable_files_raise_model_error_naming_the_file(tmp_path, make, message):
    """Each kind of bad file raises ModelError (never a torch, pickle or zip error, never a
    TypeError) whose message names the file and what is wrong."""
    path = tmp_path / "weights" / "bad.pt"
    path.parent.mkdir()
    make(path)
    with pytest.raises(ModelError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_a_missing_file_or_a_folder_raises_model_error_naming_it(tmp_path):
    """A path that does not exist, or is a folder, is not a checkpoint."""
    for path in (tmp_path / "nope.pt", tmp_path):
        with pytest.raises(ModelError, match="does not exist") as info:
            load_checkpoint(path)
        assert str(path) in str(info.value)


# -- weights that do not fit -------------------------------------------------------------


def other_scale() -> str:
    return [s for s in SCALES if s != SCALE][0]


@pytest.mark.parametrize(
    "change",
    ["wrong_scale", "wrong_class_count", "missing_tensor", "extra_tensor", "wrong_shape"],
)
def test_weights_that_do_not_fit_raise_model_error(tmp_path, change):
    """Weights saved from another scale (or class count, or with a tensor missing, extra
    or reshaped) are refused by model_from_checkpoint with a ModelError naming the file
    and the scale it tried to build."""
    state = trained_state()
    weights = dict(state["model"])
    if change == "wrong_scale":
        weights = build_model(other_scale(), len(NAMES)).state_dict()
    elif change == "wrong_class_count":
        weights = build_model(SCALE, len(NAMES) + 1).state_dict()
    elif change == "missing_tensor":
        del weights[next(k for k in weights if k.endswith("weight"))]
    elif change == "extra_tensor":
        weights["head.extra.weight"] = torch.zeros(3)
    else:
        key = next(k for k in weights if k.endswith("running_mean"))
        weights[key] = torch.zeros(weights[key].numel() + 1)
    path = tmp_path / "best.pt"
    save_checkpoint(path, {**state, "model": weights})
    loaded = load_checkpoint(path)  # a well-formed file: the weights are the problem
    with pytest.raises(ModelError, match=f"yolops-{SCALE} model") as info:
        model_from_checkpoint(loaded, str(path))
    assert str(path) in str(info.value)


def test_a_scale_this_version_does_not_know_raises_model_error(tmp_path):
    """A checkpoint naming a scale not in SCALES (say, written by a newer yolops) is a
    checkpoint problem: ModelError naming the file, not a bare configuration error."""
    path = tmp_path / "best.pt"
    save_checkpoint(path, {**trained_state(), "scale": "xxl"})
    with pytest.raises(ModelError) as info:
        model_from_checkpoint(load_checkpoint(path), str(path))
    assert str(path) in str(info.value) and "xxl" in str(info.value)


# -- no code runs on load ----------------------------------------------------------------


class Payload:
    """Unpickling this calls os.mkdir(marker): a stand-in for any code a file could run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_loading_never_runs_code_from_the_file(tmp_path):
    """A checkpoint holding an object whose unpickling calls a function is refused with a
    ModelError naming the file, and the function never ran. (The same file opened with
    plain pickle rules does run it: the payload is live, the refusal is weights_only's.)"""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({**trained_state(), "extra": Payload(marker)}, path)
    with pytest.raises(ModelError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    assert not marker.exists()
    # Control: unrestricted unpickling executes the payload.
    torch.load(path, weights_only=False)
    assert marker.is_dir()


def test_a_raw_pickle_file_is_refused_without_running_it(tmp_path):
    """A plain pickle (not a torch zip file) with the same payload is refused as well."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    state = {
        "model": {},
        "scale": SCALE,
        "class_names": NAMES,
        "imgsz": IMGSZ,
        "extra": Payload(marker),
    }
    path.write_bytes(pickle.dumps(state, protocol=2))
    with pytest.raises(ModelError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    assert not marker.exists()
