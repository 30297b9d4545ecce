"""Help as a new user reads it: every command's `-h`, the defaults its options say,
flags without a value type, usage lines naming arguments as Click does."""

import re

import pytest
import typer

from yolops.cli.main import app
from yolops.train.config import TrainConfig

from cli_support import invoke


def _commands(command, path=()):
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one line per option: nothing wraps


@pytest.mark.parametrize(
    "path, command", COMMANDS, ids=[" ".join(p) or "yolops" for p, _ in COMMANDS]
)
def test_every_command_has_readable_help(path, command, capsys):
    done = invoke(capsys, *path, "-h")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "Usage: yolops" in text
    assert "<bool>" not in text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage
    for param in command.params:
        if param.hidden:
            continue
        # Every "[default: ...]" a help text gives is shown, not eaten as Rich markup.
        for default in re.findall(r"\[default: [^\]]*\]", (param.help or "").replace("\\", "")):
            assert default in text, (path, param.name, default)


def test_usage_names_arguments_as_click_does(capsys):
    done = invoke(capsys, "data", "convert", "--help")
    assert "Usage: yolops data convert [OPTIONS] SRC OUT" in done.stdout
    done = invoke(capsys, "runs", "compare", "-h")
    assert "yolops runs compare [OPTIONS] RUN_IDS..." in done.stdout


def test_serve_help_keeps_its_defaults(capsys):
    text = " ".join(invoke(capsys, "serve", "-h").stdout.split())
    assert "Address to listen on [default: 127.0.0.1]." in text
    assert "--no-auth Turn API keys off" in text  # a flag: no <bool> between


def test_train_help_shows_the_effective_defaults(capsys):
    """The options are None so that --config can set them; help shows what applies."""
    text = invoke(capsys, "train", "-h").stdout
    defaults = TrainConfig()
    for field in ("scale", "imgsz", "epochs", "batch", "optimizer", "patience", "seed", "device"):
        line = next(ln for ln in text.splitlines() if f"--{field} " in ln)
        value = getattr(defaults, field)
        assert f"[default: {value}]" in line, (field, line)
