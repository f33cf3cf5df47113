"""``byoc check IMAGE``: the click command over :mod:`byoc.check`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

__all__ = ["check_command"]


def _usage(message: str) -> NoReturn:
    click.echo(f"byoc check: {message}", err=True)
    sys.exit(2)


@click.command("check")
@click.argument("image", required=False)
@click.option(
    "--model",
    type=click.Path(exists=True, path_type=Path),
    help="Model directory or model.tar.gz mounted at /opt/ml/model [default: an empty "
    "directory, for images that carry their model].",
)
@click.option("--train", is_flag=True, help="Also the training rules (`docker run IMAGE train`).")
@click.option("--multi-model", is_flag=True, help="Also the multi-model endpoint rules.")
@click.option("--batch", is_flag=True, help="Also the batch transform rules.")
@click.option("--marketplace", is_flag=True, help="Also the AWS Marketplace rules.")
@click.option(
    "--payload",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Sample request body [default: three header-less Auto MPG CSV rows].",
)
@click.option("--content-type", help="The payload's Content-Type [default: text/csv].")
@click.option("--accept", help="Accept for the sample prediction [default: none sent].")
@click.option("--env", "env", multiple=True, help="KEY=VALUE, as CreateModel's Environment.")
@click.option(
    "--train-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="An /opt/ml tree (input/config, input/data) for --train [default: local_test/test_dir].",
)
@click.option("--startup-timeout", type=click.FloatRange(1, 3600), default=600, show_default=True)
@click.option(
    "--stop-grace",
    type=click.IntRange(1, 120),
    default=30,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL for an endpoint (SageMaker: 30).",
)
@click.option("--rules", "rule_ids", help="Only these rules, comma-separated (see --list).")
@click.option("--list", "list_rules", is_flag=True, help="List the rules and exit.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="JUnit XML here.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--quiet", is_flag=True, help="No progress lines.")
def check_command(
    image: str | None,
    model: Path | None,
    train: bool,
    multi_model: bool,
    batch: bool,
    marketplace: bool,
    payload: Path | None,
    content_type: str | None,
    accept: str | None,
    env: tuple[str, ...],
    train_dir: Path | None,
    startup_timeout: float,
    stop_grace: int,
    rule_ids: str | None,
    list_rules: bool,
    junit: Path | None,
    json_path: Path | None,
    quiet: bool,
) -> None:
    """Run IMAGE as SageMaker would and report rule by rule: PASS, FAIL or N/A.

    Exit code 0 when every applicable rule passes, 1 when one fails, 2 for a usage error,
    a missing image or no Docker.
    """
    from .check import EMPTY_MODEL, RULES, CheckOptions, Sample, run_check, select_rules
    from .check.progress import Progress
    from .local import DockerError, docker_available, parse_env

    if list_rules:
        for rule in RULES.values():
            click.echo(f"{rule.id:26} {rule.group:12} {rule.title}")
        return
    if not image:
        _usage("IMAGE is required (byoc check IMAGE; --list shows the rules)")
    groups = [
        name
        for name, on in (
            ("train", train),
            ("multi-model", multi_model),
            ("batch", batch),
            ("marketplace", marketplace),
        )
        if on
    ]
    try:
        wanted = select_rules(groups, [r.strip() for r in (rule_ids or "").split(",") if r.strip()])
        environment = parse_env(env)
    except ValueError as exc:
        _usage(str(exc))
    if content_type and not payload:
        _usage("--content-type describes --payload: give both")
    sample = Sample()
    if payload:
        sample = Sample(payload.read_bytes(), content_type or "text/csv", accept)
    elif accept:
        sample = Sample(accept=accept)
    problem = docker_available()
    if problem:
        _usage(f"Docker is needed: {problem}")
    progress = Progress(quiet=quiet)
    options = CheckOptions(
        image,
        model or EMPTY_MODEL,
        sample,
        environment,
        startup_timeout,
        stop_grace,
        train_dir,
        say=progress.say,
    )
    try:
        report = run_check(options, wanted)
    except DockerError as exc:
        progress.close()
        _usage(str(exc))
    except KeyboardInterrupt:
        progress.close()
        click.echo("byoc check: interrupted", err=True)
        sys.exit(130)
    progress.close()
    report.print_table(sys.stdout)
    if junit:
        report.write_junit(junit)
    if json_path:
        report.write_json(json_path)
    sys.exit(0 if report.passed else 1)
