"""A check's results written out: the table, JUnit XML (one test case per rule), JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .rules import Outcome, Status

__all__ = ["Report"]


@dataclass
class Report:
    image: str
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status is Status.FAIL]

    @property
    def passed(self) -> bool:
        return not self.failed

    def status(self, rule_id: str) -> Status | None:
        return next((o.status for o in self.outcomes if o.rule.id == rule_id), None)

    def summary(self) -> str:
        counts = {status: 0 for status in Status}
        for outcome in self.outcomes:
            counts[outcome.status] += 1
        verdict = (
            "PASSED" if self.passed else "FAILED: " + ", ".join(o.rule.id for o in self.failed)
        )
        return (
            f"{self.image}: {counts[Status.PASS]} passed, {counts[Status.FAIL]} failed, "
            f"{counts[Status.NA]} not applicable in {self.seconds:.0f} s — {verdict}"
        )

    def print_table(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console(file=stream, width=None if stream.isatty() else 200, soft_wrap=False)
        table = Table(title=f"byoc check {self.image}", title_justify="left")
        for column in ("rule", "result", "measured", "detail"):
            table.add_column(column, overflow="fold")
        colours = {Status.PASS: "green", Status.FAIL: "bold red", Status.NA: "dim"}
        for outcome in self.outcomes:
            result = f"[{colours[outcome.status]}]{outcome.status.value}[/]"
            table.add_row(outcome.rule.id, result, outcome.value, outcome.detail, end_section=False)
        console.print(table)
        console.print(self.summary(), highlight=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "image": self.image,
            "passed": self.passed,
            "seconds": round(self.seconds, 1),
            "rules": [outcome.as_dict() for outcome in self.outcomes],
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n")

    def write_junit(self, path: Path) -> None:
        suite = ET.Element(
            "testsuite",
            name=f"byoc check {self.image}",
            tests=str(len(self.outcomes)),
            failures=str(len(self.failed)),
            skipped=str(sum(1 for o in self.outcomes if o.status is Status.NA)),
            time=f"{self.seconds:.3f}",
        )
        for outcome in self.outcomes:
            case = ET.SubElement(
                suite,
                "testcase",
                name=outcome.rule.id,
                classname=f"byoc.check.{outcome.rule.group}",
                time=f"{outcome.seconds:.3f}",
            )
            text = f"{outcome.rule.title}: {outcome.value}. {outcome.detail}".strip()
            if outcome.status is Status.FAIL:
                ET.SubElement(case, "failure", message=outcome.value).text = text
            elif outcome.status is Status.NA:
                ET.SubElement(case, "skipped", message=outcome.detail or "not applicable")
            else:
                ET.SubElement(case, "system-out").text = text
        root = ET.Element("testsuites")
        root.append(suite)
        ET.indent(root)
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
