"""Running the `yolops` command in-process, as most CLI tests do: the same entry point
as the console script, without the seconds a child spends importing torch and MLflow.
Each CLI has one end-to-end test in a child process besides."""

from __future__ import annotations

import subprocess

from yolops.cli.main import main


def invoke(capsys, *args) -> subprocess.CompletedProcess:
    """``yolops ARGS`` through ``main``: the exit code, stdout and stderr, like a child's."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """Exit code and everything printed (stdout + stderr, whitespace collapsed)."""
    done = invoke(capsys, *args)
    return done.returncode, " ".join((done.stdout + done.stderr).split())
