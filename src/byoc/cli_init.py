"""``byoc init DIR --framework F``: the click command over :mod:`byoc.scaffold`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["init_command"]

_FRAMEWORKS = ("sklearn", "xgboost", "pytorch", "tensorflow", "custom")


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--framework",
    type=click.Choice(_FRAMEWORKS),
    required=True,
    help="What code/train.py and code/inference.py are written for (custom: numpy only).",
)
@click.option("--name", help="The image's name [default: DIRECTORY's name].")
@click.option("--force", is_flag=True, help="Overwrite files that differ from the template.")
@click.option(
    "--no-wheel",
    is_flag=True,
    help="Put no byoc wheel in wheels/: the image installs byoc from the package index.",
)
def init_command(
    directory: Path, framework: str, name: str | None, force: bool, no_wheel: bool
) -> None:
    """Write a SageMaker container project for your own model into DIRECTORY.

    A Dockerfile (the framework's pinned CPU wheels and byoc), code/train.py and
    code/inference.py, a tiny sample data set and payloads, local_test/ scripts, tests,
    a buildspec.yml and a README with the two commands. An existing file that differs is
    never replaced without --force.
    """
    from .scaffold import NAME, ScaffoldError, WheelError, project_files, write

    name = name or directory.resolve().name.lower()
    if not NAME.match(name):
        click.echo(
            f"byoc init: {name!r} is not an image name: give --name (lower-case letters, "
            "digits, '.', '_', '-')",
            err=True,
        )
        sys.exit(2)
    try:
        files = project_files(framework, name, with_wheel=not no_wheel)
        plan = write(directory, files, force)
    except (ScaffoldError, WheelError) as exc:
        click.echo(f"byoc init: {exc}", err=True)
        sys.exit(1)
    for path in plan.differs:
        click.echo(f"overwrote {path}")
    written = len(plan.new) + len(plan.differs)
    click.echo(
        f"{directory}: {written} file(s) written, {len(plan.same)} already as the template "
        f"({framework}, image {name})"
    )
    if written:
        click.echo(f"next: cd {directory} && ./local_test/build_and_serve.sh")
