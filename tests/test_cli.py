"""The CLI lists every subcommand: a command module that is missing or broken fails here."""

import importlib

from emofusion import cli
from emofusion.bench import cli as bench_cli


def test_every_command_module_imports():
    for table in (cli.COMMANDS, bench_cli.TARGETS):
        for name, module_name in table.items():
            module = importlib.import_module(module_name)
            assert module.HELP and callable(module.run) and callable(module.add_arguments), name


def test_help_lists_all_commands(capsys):
    parser = cli.build_parser()
    text = parser.format_help()
    for name in cli.COMMANDS:
        assert name in text


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
