"""One ``byoc check``: which rules, the model prepared once, each group in turn."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from .environments import check_environments
from .image import check_image, inspect_image
from .options import CheckOptions
from .report import Report
from .rules import GROUPS, RULES
from .serving import check_serving

__all__ = ["run_check", "select_rules"]

ALWAYS = ("image", "serve")


def select_rules(groups: Iterable[str], rules: Iterable[str] = ()) -> set[str]:
    """``rules`` if any are named (raises ``ValueError`` for an unknown one), else the
    rules of the image and serve groups plus ``groups``."""
    named = list(rules)
    unknown = [rule_id for rule_id in named if rule_id not in RULES]
    if unknown:
        raise ValueError(f"unknown rule {', '.join(unknown)} (known: {', '.join(RULES)})")
    if named:
        return set(named)
    return {rule_id for group in (*ALWAYS, *groups) for rule_id in GROUPS[group]}


def run_check(options: CheckOptions, wanted: set[str]) -> Report:
    """Raises ``DockerError`` when the image is missing; every rule's failure is reported."""
    began = time.monotonic()
    info = inspect_image(options.image)
    report = Report(options.image)
    scratch = Path(tempfile.mkdtemp(prefix="byoc-check-"))
    try:
        options = replace(options, model=_readable_copy(options.model, scratch / "model"))
        report.outcomes += check_image(info, wanted)
        report.outcomes += check_serving(options, wanted)
        report.outcomes += check_environments(options, info, wanted)
        from .batch import check_batch
        from .marketplace import check_marketplace
        from .multimodel import check_multi_model
        from .training import check_training

        report.outcomes += check_multi_model(options, info, wanted, scratch)
        report.outcomes += check_batch(options, wanted)
        report.outcomes += check_training(options, wanted, scratch)
        report.outcomes += check_marketplace(options, wanted, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    order = list(RULES)
    report.outcomes.sort(key=lambda outcome: order.index(outcome.rule.id))
    report.seconds = time.monotonic() - began
    return report


def _readable_copy(model: Path, target: Path) -> Path:
    """The model as SageMaker mounts it: readable by any user (``--user 1000:1000``)."""
    if model.is_file():
        from ..local import unpack_model

        unpacked = unpack_model(model)
        shutil.copytree(unpacked, target)
        shutil.rmtree(unpacked, ignore_errors=True)
    elif model.is_dir():
        shutil.copytree(model, target)
    else:
        target.mkdir(parents=True)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target
