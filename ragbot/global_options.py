"""Global options anywhere: `ragbot sync --docs-dir X` works like `ragbot --docs-dir X sync`.

Click only reads a group's options before the command name; users (and the README's examples)
put them after it too. The app's own options found after the command are moved in front of it
before Click parses, unless the command has an option of the same name. `--` ends the moving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from typer.core import TyperGroup

# Typer 0.29 ships its own copy of Click (`typer._click`), so parameters are told apart by
# `param_type_name` rather than by class.


class GlobalOptionsAnywhere(TyperGroup):
    """The `ragbot` group: its options are accepted before or after the command name."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args, self.params, self.commands))

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Each command's first sentence, wrapped rather than cut off with "..." at 80 columns."""
        rows = [(name, command.get_short_help_str(limit=200)) for name in self.list_commands(ctx)
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _value_taking(params: Sequence[Any]) -> dict[str, bool]:
    """Option string → whether it takes a value (`--index URI`) or not (`-v`)."""
    found: dict[str, bool] = {}
    for param in params:
        if param.param_type_name == "option":
            for opt in (*param.opts, *param.secondary_opts):
                found[opt] = not (param.is_flag or param.count)
    return found


def _option_width(arg: str, options: Mapping[str, bool]) -> int:
    """How many tokens the option at `arg` spans (0: not one of `options`)."""
    name, equals, _ = arg.partition("=")
    if name not in options:
        return 0
    return 2 if options[name] and not equals else 1


def hoist_global_options(args: list[str], params: Sequence[Any], commands: Mapping[str, Any]) -> list[str]:
    """`args` with the group's options that follow the command name moved in front of it."""
    options = _value_taking(params)
    at = 0
    while at < len(args) and args[at] != "--":
        width = _option_width(args[at], options)
        if width:
            at += width
        elif args[at].startswith("-"):
            at += 1  # --help and the like: Click answers them
        else:
            break
    if at >= len(args) or args[at] not in commands:
        return args
    command = commands[args[at]]
    options = {opt: takes for opt, takes in options.items()
               if opt not in _value_taking(command.params)}  # the command's own option wins
    moved: list[str] = []
    rest: list[str] = []
    tail = args[at + 1:]
    i = 0
    while i < len(tail):
        if tail[i] == "--":
            rest.extend(tail[i:])
            break
        width = _option_width(tail[i], options)
        if width:
            moved.extend(tail[i:i + width])
            i += width
        else:
            rest.append(tail[i])
            i += 1
    return [*args[:at], *moved, args[at], *rest]
