"""The single `emofusion` command line: each subcommand lives in the module that does the work.

A command module exposes `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`, and
keeps heavy imports (torch, gradio) inside `run` so `emofusion --help` stays fast. Problems a user
can fix are raised as `emofusion.errors.EmofusionError` (or a subclass) by the library and the
command modules alike; only `main` turns them into a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from emofusion.errors import EmofusionError

# OpenMP threads that spin while they wait make a busy 2-core machine crawl (a FER+ training step
# measured 8-18 s with spinning, 0.7 s passive); set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# subcommand -> module. Order is the order shown in --help.
COMMANDS: dict[str, str] = {
    "data": "emofusion.data.cli",
    "preprocess": "emofusion.data.preprocess",
    "params": "emofusion.nets.cli",
    "train": "emofusion.train.cli",
    "train-face": "emofusion.train.face_cli",
    "train-fusion": "emofusion.train.fusion_fw",
    "evaluate": "emofusion.train.evaluate",
    "evaluate-real": "emofusion.train.real_av",
    "export": "emofusion.export.cli",
    "bench": "emofusion.bench.cli",
    "provenance": "emofusion.provenance",
    "predict": "emofusion.webapp.predict_cli",
    "webapp": "emofusion.webapp.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emofusion", description=__doc__.splitlines()[0])
    from emofusion import __version__

    parser.add_argument("--version", action="version", version=f"emofusion {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = load_command_module(module_name)
        if module is None:
            continue
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except EmofusionError as exc:
        print(f"emofusion {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130



def load_command_module(module_name: str):
    """Import a command module; a module not written yet is skipped (a test checks none is)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


if __name__ == "__main__":
    sys.exit(main())
