"""TrainConfig's names: misspelt options, and ``model``, the old name of ``scale``."""

from __future__ import annotations

import pytest
import yaml

from yolops.errors import ConfigError
from yolops.train.config import TrainConfig

from cli_support import run_cli


def test_a_misspelt_option_names_the_valid_ones():
    with pytest.raises(ConfigError) as e:
        TrainConfig().replace(imgsize=64)
    message = str(e.value)
    assert "'imgsize' (did you mean 'imgsz'?)" in message
    assert "the options are data, scale, imgsz, epochs" in message
    with pytest.raises(ConfigError, match="'nothing_like_it'; the options"):
        TrainConfig.from_dict({"nothing_like_it": 1})


def test_model_is_the_old_name_of_scale(tmp_path):
    assert TrainConfig().replace(model="s").scale == "s"
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump({"model": "m", "epochs": 3}))
    assert TrainConfig.from_yaml(old) == TrainConfig(scale="m", epochs=3)
    assert TrainConfig.from_dict({"model": "s", "scale": "s"}).scale == "s"
    with pytest.raises(ConfigError, match="'model' is the old name of 'scale'"):
        TrainConfig.from_dict({"model": "s", "scale": "m"})
    assert "model" not in TrainConfig().to_dict()


def test_non_defaults_are_what_a_config_sets():
    assert TrainConfig().non_defaults() == {}
    assert TrainConfig(epochs=60, data="d.yaml").non_defaults() == {"data": "d.yaml", "epochs": 60}


def test_cli_scale_and_its_old_flag(capsys, shapes_yaml, tmp_path):
    """--model is a hidden alias of --scale on `yolops train`; both at once is an error."""
    common = ["train", "--data", str(shapes_yaml), "--project", str(tmp_path), "--no-track"]
    code, out = run_cli(capsys, *common, "--model", "q")  # refused when the model is built
    assert code == 1 and "unknown model scale 'q'" in out, out
    code, out = run_cli(capsys, *common, "--scale", "n", "--model", "n")
    assert code == 2 and "--scale only" in out, out
    code, out = run_cli(capsys, "train", "--help")
    assert "--scale" in out and "--model" not in out
