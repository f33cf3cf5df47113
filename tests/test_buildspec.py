"""buildspec.yml, run phase by phase as CodeBuild would, against moto's ECR and a registry.

A copy of the source tree (what CodeBuild checks out) gets its own virtual environment, the
lint, type check and unit tests with a JUnit report, an image built for linux/amd64 with
the revision label from CODEBUILD_RESOLVED_SOURCE_VERSION, the image checks (labels,
hadolint, no credentials or build CA in the layers), the scan (said to be skipped here:
there is no grype and no vulnerability database), an SBOM of the image's Python
environment, the push, and the artifact naming the image URI. grype is not downloaded
(BYOC_INSTALL_GRYPE=false): this machine has no internet.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests

from byoc.local import docker

from .aws_support import ACCOUNT, ECR_PASSWORD, REGION, moto_clients
from .codebuild import codebuild_env, run_buildspec
from .docker_support import require_docker
from .server import REPO

pytestmark = pytest.mark.docker

NAME = "byoc-codebuild-test"


def source_copy(target: Path) -> Path:
    """The files git would check out (tracked and new, as in the working tree)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = REPO / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())
    return target


def test_buildspec_phases_build_scan_and_push(
    tmp_path: Path, aws_env: dict[str, str], moto_url: str, registry: str
) -> None:
    require_docker()
    source = source_copy(tmp_path / "src")
    revision = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {
        **codebuild_env(source, REGION, revision),
        **aws_env,
        "IMAGE_REPO_NAME": NAME,
        "BYOC_ECR_REGISTRY": registry,
        "BYOC_INSTALL_GRYPE": "false",
        "BYOC_SCAN_OFFLINE": "true",  # should a grype be on PATH: no database download
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
        "BASE_IMAGE": docker_base(),
    }
    started = time.monotonic()
    try:
        phases = run_buildspec(source, env)
    finally:
        for ref in docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split():
            if ref.startswith((f"{NAME}:", f"{registry}/{NAME}:")):
                docker("rmi", ref, check=False)
    print(f"buildspec ran in {time.monotonic() - started:.0f}s")
    for phase in phases:
        print(f"== {phase.phase}: {phase.status}\n{phase.output[-1500:]}")
    assert [(p.phase, p.status) for p in phases] == [
        (name, "SUCCEEDED") for name in ("install", "pre_build", "build", "post_build")
    ], phases[-1].output[-3000:]

    suite = ET.parse(source / "reports" / "unit.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("tests", 0)) > 100
    assert suite.get("failures") == "0" and suite.get("errors") == "0"

    tag = f"0.1.0-{revision[:12]}"
    uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{NAME}:{tag}"
    assert json.loads((source / "imageDetail.json").read_text()) == {"ImageURI": uri}
    assert (source / "image-uri.txt").read_text().strip() == uri
    listed = requests.get(
        f"http://{registry}/v2/{NAME}/tags/list", auth=("AWS", ECR_PASSWORD), timeout=10
    ).json()
    serve_only = [f"{tag}-serve-only", "0.1.0-serve-only", "serve-only"]
    assert sorted(listed["tags"]) == sorted([tag, "0.1.0", "latest", *serve_only])
    assert (source / "image-uri-serve-only.txt").read_text().strip() == f"{uri}-serve-only"
    (repo,) = moto_clients(moto_url)["ecr"].describe_repositories()["repositories"]  # type: ignore[attr-defined]
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}

    scan = (source / "scan-report.txt").read_text().splitlines()[0]
    if shutil.which("grype") is None:
        assert scan.startswith("SKIPPED: no vulnerability database reachable (grype is not")
    assert not scan.startswith("PASSED") or shutil.which("grype")  # never a pass not run
    post = next(p for p in phases if p.phase == "post_build").output
    assert "vulnerability scan of" in post and scan in post
    scan_suite = ET.parse(source / "reports" / "scan.xml").getroot().find("testsuite")
    assert scan_suite is not None and scan_suite.get("skipped") == "1"
    image_suite = ET.parse(source / "reports" / "image.xml").getroot().find("testsuite")
    assert image_suite is not None and image_suite.get("tests") == "3"

    check_suite = ET.parse(source / "reports" / "check.xml").getroot().find("testsuite")
    assert check_suite is not None and int(check_suite.get("tests", 0)) >= 15
    assert check_suite.get("failures") == "0", post[-3000:]
    assert "slow-clients" in post and "PASSED" in post
    lite_suite = ET.parse(source / "reports" / "check-serve-only.xml").getroot().find("testsuite")
    assert lite_suite is not None and int(lite_suite.get("tests", 0)) >= 15
    assert lite_suite.get("failures") == "0", post[-3000:]

    sbom = json.loads((source / "sbom.cdx.json").read_text())
    assert (sbom["bomFormat"], sbom["metadata"]["component"]["type"]) == ("CycloneDX", "container")
    names = {re.sub(r"[-_.]+", "-", c["name"].lower()) for c in sbom["components"]}
    assert {"flask", "gunicorn", "numpy", "tensorflow-cpu", "byoc"} <= names
    assert "byoc login" in next(p for p in phases if p.phase == "pre_build").output


def docker_base() -> str:
    """The local base image (Docker Hub is out of reach here: never fall back to a pull)."""
    base = os.environ.get("BYOC_BASE_IMAGE", "byoc-base:bookworm")
    if docker("image", "inspect", base, check=False).returncode != 0:
        pytest.fail(f"base image {base} is missing: bash .ci/docker-setup.sh builds it")
    return base
