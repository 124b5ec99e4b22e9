"""The ``posetrack`` command.

Each subcommand lives in its own module ``cli/cmd_<name>.py`` that defines:

* ``NAME``: the subcommand name (e.g. ``"info"``);
* ``HELP``: one line of help;
* ``add_arguments(parser)``: its arguments;
* ``run(args) -> int``: runs it (exit status) and prints what it did.

What the command does is a Python function of the same name as the subcommand (``info``,
``new``, ``import_``, ``export``, ...) in :mod:`napari_posetrack.workflows` (``workflows/<name>.py``),
which ``run`` calls and :mod:`napari_posetrack.api` exposes; a command module keeps only its
arguments and its output.

Modules are discovered here, so adding a command never edits this file. Heavy imports go
inside the functions.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

__all__ = ["main", "build_parser", "readable_formats", "writable_formats"]


def readable_formats() -> list[str]:
    """Names of the formats ``core.io`` reads, from its registry (for ``--format`` help texts)."""
    from ..core.io import FORMATS

    return [n for n, s in FORMATS.items() if s.load is not None]


def writable_formats() -> list[str]:
    """Names of the formats ``core.io`` writes, from its registry."""
    from ..core.io import FORMATS

    return [n for n, s in FORMATS.items() if s.save is not None]


def _command_modules():
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("cmd_"):
            mods.append(importlib.import_module(f"{__name__}.{info.name}"))
    return sorted(mods, key=lambda m: m.NAME)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="posetrack",
        description="napari-posetrack: multi-animal pose estimation and tracking, headless.",
    )
    parser.add_argument("--version", action="version", version=f"napari-posetrack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None) -> int:
    from ..core.errors import PoseTrackError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except PoseTrackError as exc:
        print(f"posetrack {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"posetrack {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
