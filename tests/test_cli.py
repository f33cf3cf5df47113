"""The ``byoc`` command group: its subcommands are imported when asked for."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from byoc.cli import LAZY_COMMANDS, cli


def test_every_lazy_command_loads_under_its_own_name() -> None:
    context = click.Context(cli)
    for name in LAZY_COMMANDS:
        command = cli.get_command(context, name)
        assert command is not None and command.name == name
    assert set(LAZY_COMMANDS) | {"serve", "train", "demo"} == set(cli.list_commands(context))
    listed = CliRunner().invoke(cli, ["--help"])
    assert listed.exit_code == 0 and all(f"  {name} " in listed.output for name in LAZY_COMMANDS)


def test_serving_imports_none_of_the_other_commands() -> None:
    """``byoc serve`` starts every container: the emulator, the checker and AWS stay out."""
    probe = (
        "import sys, byoc.cli; "
        "print(' '.join(m for m in sys.modules if m.startswith(('byoc.cli_', 'byoc.local', "
        "'byoc.check', 'byoc.aws', 'byoc.scaffold', 'boto3', 'rich'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []
