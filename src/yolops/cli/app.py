"""The CLI's Typer: every yolops command and command group is built from :class:`Typer`,
so that help reads the same everywhere.

- Help texts are plain text, not Rich markup: ``[default: 127.0.0.1]`` in a help string
  is shown as written (Rich would take it for a style tag and drop it).
- A flag shows no value type (``--strict``, not ``--strict <bool>``).
- Usage lines name arguments as Click does (``SRC OUT``, ``[NAME]``, ``RUN_IDS...``).
- ``-h`` is ``--help`` in every command.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

HELP_OPTIONS = ["-h", "--help"]


def _plain(text: str | None) -> str | None:
    return escape(text) if text else text


def _tidy(params: list) -> list:
    """Flags without a value type, arguments named in capitals (both idempotent)."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        elif isinstance(param, TyperArgument) and param.metavar is None:
            param.metavar = param.name.upper()
    return params


def _plain_texts(command) -> None:
    """A command's or group's help texts, and its parameters', as plain text."""
    command.help = _plain(command.help)
    command.short_help = _plain(command.short_help)
    for param in command.params:
        param.help = _plain(getattr(param, "help", None))


class Command(TyperCommand):
    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        _plain_texts(self)

    def get_params(self, ctx):
        return _tidy(super().get_params(ctx))

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar if param.required else f"[{param.metavar}]"
                pieces.append(name + ("..." if param.nargs != 1 else ""))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class Group(TyperGroup):
    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        _plain_texts(self)

    def get_params(self, ctx):
        return _tidy(super().get_params(ctx))


class Typer(typer.Typer):
    """``typer.Typer`` whose commands are :class:`Command` and groups :class:`Group`,
    with ``-h`` as ``--help`` (sub-commands inherit it from the root's context)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        kwargs.setdefault("context_settings", {"help_option_names": HELP_OPTIONS})
        super().__init__(**kwargs)

    def command(self, name: str | None = None, *, cls: type | None = None, **kwargs: Any):
        return super().command(name, cls=cls or Command, **kwargs)
