"""``byoc push``: a local image to ECR, as users do it by hand, with every check first.

Account from STS; the repository created if missing (scan on push on); a login token from
ECR, used through a throw-away Docker config so no credentials stay on disk; tags for the
version, the git revision and ``latest``; push with a count of layers sent. The registry
host is the one ECR reports, or ``registry=`` (``BYOC_ECR_REGISTRY``) for a mirror or a
test registry.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from ..local import docker, docker_available
from .clients import Aws
from .errors import AwsError, InputError, client_error, error_code
from .progress import Reporter
from .validate import check_repository, check_tag

__all__ = ["VARIANT_LABEL", "PushResult", "default_tags", "inspect_image", "login", "push_image"]

VARIANT_LABEL = "dev.byoc.variant"  # which image of container/Dockerfile: full or serve-only

PLATFORM = "linux/amd64"
_LAYER_LINE = re.compile(r"^([0-9a-f]{12}): (Pushed|Layer already exists|Mounted from .*)$")


@dataclass(frozen=True)
class PushResult:
    image_uri: str  # ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG, as SageMaker takes it
    uris: tuple[str, ...]  # one per tag
    pushed_to: str  # the registry host really pushed to
    digest: str | None
    repository_created: bool
    seconds: float


def inspect_image(image: str) -> dict[str, Any]:
    """``docker image inspect``, or ``InputError`` when Docker or the image is missing."""
    problem = docker_available()
    if problem:
        raise InputError(f"Docker is needed to push an image: {problem}")
    result = docker("image", "inspect", image, check=False)
    if result.returncode != 0:
        raise InputError(
            f"image {image!r} is not in the local Docker engine (build it first: "
            "container/build.sh, or docker build -t NAME .)"
        )
    info: dict[str, Any] = json.loads(result.stdout)[0]
    platform = f"{info.get('Os')}/{info.get('Architecture')}"
    if platform != PLATFORM:
        raise InputError(
            f"image {image!r} is {platform}; SageMaker runs {PLATFORM} only and would fail "
            "with 'exec format error'. Rebuild with --platform linux/amd64 "
            "(container/build.sh does)"
        )
    return info


def default_tags(info: dict[str, Any], immutable: bool) -> list[str]:
    """VERSION-REVISION, VERSION (from the image's labels) and ``latest``; only the first
    for immutable tags. The first, most specific one is the URI to deploy. An image of
    another variant (label ``dev.byoc.variant``, e.g. ``serve-only``) gets the same tags
    with ``-VARIANT`` and ``VARIANT`` for ``latest``, as container/build.sh tags it: it
    never takes the full image's tags in a shared repository."""
    labels = (info.get("Config") or {}).get("Labels") or {}
    tags = []
    version = labels.get("org.opencontainers.image.version")
    revision = labels.get("org.opencontainers.image.revision")
    variant = labels.get(VARIANT_LABEL) or "full"
    suffix = "" if variant == "full" else f"-{variant}"
    if revision and revision != "unknown":
        tags.append(f"{version}-{revision}{suffix}" if version else f"{revision}{suffix}")
    if version:
        tags.append(f"{version}{suffix}")
    latest = "latest" if variant == "full" else variant
    if immutable:  # only the tag that is new with each commit can be pushed again
        return [check_tag(tag) for tag in tags[:1]] or [latest]
    tags.append(latest)
    return [check_tag(tag) for tag in dict.fromkeys(tags)]


def ensure_repository(
    aws: Aws, name: str, immutable: bool, reporter: Reporter
) -> tuple[dict[str, Any], bool]:
    """The repository (created, with scan on push, if missing) and whether it was created."""
    ecr = aws.client("ecr")
    try:
        found: dict[str, Any] = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except Exception as exc:
        if error_code(exc) != "RepositoryNotFoundException":
            raise client_error(exc, f"ecr describe-repositories {name}") from exc
    else:
        scan = found.get("imageScanningConfiguration", {}).get("scanOnPush")
        mutability = found.get("imageTagMutability", "MUTABLE")
        reporter.info(
            f"repository {found['repositoryUri']} exists (scan on push: {scan}, tags "
            f"{mutability.lower()})"
        )
        if not scan:
            reporter.warn(
                f"repository {name} does not scan on push; Marketplace listings need scanned "
                "images (aws ecr put-image-scanning-configuration --image-scanning-"
                "configuration scanOnPush=true)"
            )
        return found, False
    created: dict[str, Any] = aws.call(
        "ecr",
        "create_repository",
        f"ecr create-repository {name}",
        repositoryName=name,
        imageScanningConfiguration={"scanOnPush": True},
        imageTagMutability="IMMUTABLE" if immutable else "MUTABLE",
    )["repository"]
    reporter.info(f"created repository {created['repositoryUri']} (scan on push)")
    return created, True


def login(aws: Aws, registry: str | None = None, config_dir: str | None = None) -> str:
    """``docker login`` to the account's ECR registry (or ``registry``); the host.

    ``config_dir`` is a Docker config directory to keep the credentials in (default: the
    user's own, as ``aws ecr get-login-password | docker login`` does).
    """
    problem = docker_available()
    if problem:
        raise InputError(f"Docker is needed to log in to ECR: {problem}")
    data = aws.call("ecr", "get_authorization_token", "ecr get-authorization-token")
    auth = data["authorizationData"][0]
    user, _, password = base64.b64decode(auth["authorizationToken"]).decode().partition(":")
    host = registry or urlparse(auth["proxyEndpoint"]).netloc
    config = ["--config", config_dir] if config_dir else []
    login = subprocess.run(
        ["docker", *config, "login", "--username", user, "--password-stdin", host],
        input=password,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if login.returncode != 0:
        raise AwsError(f"docker login to {host} failed: {login.stderr.strip()}")
    return host


def _push(config_dir: str, ref: str, layers: int, reporter: Reporter) -> str | None:
    """``docker push ref``, counting layers; the pushed digest."""
    digest = None
    tail: list[str] = []
    with reporter.task(f"pushing {ref}", total=layers) as task:
        process = subprocess.Popen(
            ["docker", "--config", config_dir, "push", ref],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            line = line.strip()
            tail = [*tail[-20:], line]
            match = _LAYER_LINE.match(line)
            if match:
                task.update(status=match.group(2).split(" from")[0].lower(), advance=1)
            elif "digest: sha256:" in line:
                digest = line.split("digest: ")[1].split()[0]
        code = process.wait()
    if code != 0:
        raise AwsError(f"docker push {ref} failed:\n" + "\n".join(tail[-8:]))
    return digest


def push_image(
    aws: Aws,
    image: str,
    repository: str | None = None,
    tags: list[str] | None = None,
    immutable: bool = False,
    registry: str | None = None,
    reporter: Reporter | None = None,
) -> PushResult:
    import time

    reporter = reporter or Reporter("quiet")
    started = time.monotonic()
    repository = check_repository(repository or default_repository(image))
    given = [check_tag(tag) for tag in tags] if tags else None
    info = inspect_image(image)
    aws.account()  # the credentials work before anything is created
    found, created = ensure_repository(aws, repository, immutable, reporter)
    immutable = found.get("imageTagMutability") == "IMMUTABLE"
    tags = given or default_tags(info, immutable)
    ecr_uri = str(found["repositoryUri"])  # ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/NAME
    layers = len((info.get("RootFS") or {}).get("Layers") or []) or 1
    digest = None
    with tempfile.TemporaryDirectory(prefix="byoc-docker-config-") as config_dir:
        host = login(aws, registry, config_dir)
        ecr_host = ecr_uri.split("/")[0]
        reporter.info(f"logged in to {host}" + (f" (for {ecr_host})" if host != ecr_host else ""))
        for tag in tags:
            ref = f"{host}/{repository}:{tag}"
            result = docker("tag", image, ref, check=False)
            if result.returncode != 0:
                raise AwsError(f"docker tag {image} {ref} failed: {result.stderr.strip()}")
            digest = _push(config_dir, ref, layers, reporter) or digest
    uris = tuple(f"{ecr_uri}:{tag}" for tag in tags)
    return PushResult(uris[0], uris, host, digest, created, time.monotonic() - started)


def default_repository(image: str) -> str:
    """``team/model`` of ``registry:5000/team/model:1.0``: the name without host or tag."""
    name = image.split("@")[0]
    last = name.rsplit("/", 1)
    last[-1] = last[-1].split(":")[0]
    parts = "/".join(last).split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host
    return "/".join(parts)
