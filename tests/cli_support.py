"""Running the `yolops` command in-process, as the CLI tests do."""

from __future__ import annotations

from yolops.cli.main import main


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """Exit code and everything printed (stdout + stderr, whitespace collapsed)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, " ".join((out.out + out.err).split())
