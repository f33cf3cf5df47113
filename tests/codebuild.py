"""Run a ``buildspec.yml`` as CodeBuild would, on this machine (for tests/test_buildspec.py).

The phases run in order in one bash session (so variables carry over, as in buildspec 0.2);
``env.variables`` and CodeBuild's own variables are set; a failed command ends its phase;
a failed phase skips the next ones but ``post_build``, which runs with
CODEBUILD_BUILD_SUCCEEDING=0.
Not emulated: runtime-versions (this machine's Python is used), ``reports`` upload and
``exported-variables``; artifacts are checked by the test in the source directory.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PHASES = ("install", "pre_build", "build", "post_build")
MARK = "@@codebuild-phase "


@dataclass
class PhaseResult:
    phase: str
    status: str  # SUCCEEDED | FAILED
    output: str


def codebuild_env(source: Path, region: str, revision: str) -> dict[str, str]:
    build = uuid.uuid4()
    return {
        "CODEBUILD_BUILD_ID": f"byoc:{build}",
        "CODEBUILD_BUILD_ARN": f"arn:aws:codebuild:{region}:123456789012:build/byoc:{build}",
        "CODEBUILD_BUILD_NUMBER": "1",
        "CODEBUILD_INITIATOR": "test",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": revision,
        "CODEBUILD_SOURCE_VERSION": revision,
        "CODEBUILD_SRC_DIR": str(source),
        "CODEBUILD_BUILD_SUCCEEDING": "1",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def _script(spec: dict[str, Any], variables: dict[str, str]) -> str:
    """One bash session: each command ``eval``ed, so plain variables carry over too."""
    # CodeBuild runs commands without pipefail: neither does this, so a hidden failure shows
    lines = ["export CODEBUILD_BUILD_SUCCEEDING=1"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in variables.items()]
    for phase in PHASES:
        commands = (spec.get("phases", {}).get(phase) or {}).get("commands") or []
        gate = "true" if phase == "post_build" else '[ "$CODEBUILD_BUILD_SUCCEEDING" = 1 ]'
        lines += [f"echo {MARK}{phase}", f"if {gate}; then", "  ok=1"]
        for command in commands:
            lines += [
                f"  echo {shlex.quote('[Container] Running command ' + command)}",
                f"  [ $ok = 1 ] && {{ eval {shlex.quote(command)} || ok=0; }}",
            ]
        lines += [
            f'  echo "{MARK}{phase} $ok"',
            "  [ $ok = 1 ] || export CODEBUILD_BUILD_SUCCEEDING=0",
            "fi",
        ]
    lines.append('[ "$CODEBUILD_BUILD_SUCCEEDING" = 1 ]')
    return "\n".join(lines) + "\n"


def run_buildspec(source: Path, env: dict[str, str], timeout: float = 1800) -> list[PhaseResult]:
    spec = yaml.safe_load((source / "buildspec.yml").read_text())
    if str(spec.get("version")) != "0.2":
        raise ValueError(f"buildspec version {spec.get('version')!r}: only 0.2 is emulated")
    if (spec.get("env") or {}).get("shell") != "bash":
        raise ValueError("only env.shell: bash is emulated (CodeBuild's default is sh)")
    declared = (spec.get("env") or {}).get("variables") or {}
    # as in CodeBuild, the caller's (project or start-build) variables win over the buildspec's
    variables = {str(k): str(v) for k, v in declared.items() if str(k) not in env}
    done = subprocess.run(
        ["bash", "-c", _script(spec, variables)],
        cwd=source,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    results: list[PhaseResult] = []
    output: list[str] = []
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            name, _, ok = line[len(MARK) :].partition(" ")
            if ok:
                results.append(
                    PhaseResult(name, "SUCCEEDED" if ok == "1" else "FAILED", "\n".join(output))
                )
            output = []
        else:
            output.append(line)
    return results
