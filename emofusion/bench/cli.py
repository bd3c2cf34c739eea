"""`emofusion bench TARGET`: every benchmark writes JSON + markdown under results/."""

from __future__ import annotations

import argparse

from emofusion.cli import load_command_module

HELP = "run a benchmark (media path, backends, training speed, web app load) and write results/"

# target -> module exposing add_arguments(parser) and run(args) -> int
TARGETS: dict[str, str] = {
    "media": "emofusion.bench.media",
    "backends": "emofusion.bench.backends",
    "train": "emofusion.bench.training",
    "load": "emofusion.bench.load",
    "quantization": "emofusion.bench.quantization",
    "gpu": "emofusion.bench.gpu",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    for name, module_name in TARGETS.items():
        module = load_command_module(module_name)
        if module is None:
            continue
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_bench_run=module.run)


def run(args: argparse.Namespace) -> int:
    return int(args._bench_run(args) or 0)

