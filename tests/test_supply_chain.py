"""Supply chain: an SBOM of what the image really holds, no credentials or build-time CA in
any layer or in ``docker history``, and a vulnerability scan that says when it did not run.

The layer check reads ``docker save`` as a stream: every file of every layer (files a later
layer deletes included), the image configuration and its history.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import secrets
import string
import subprocess
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from byoc.local import docker

from .server import REPO

SBOM = REPO / "container" / "sbom.sh"
SCAN = REPO / "container" / "scan.sh"

# AWS documents its APIs with placeholder keys that say EXAMPLE (AKIAIOSFODNN7EXAMPLE,
# wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY); botocore's data files quote them.
PLACEHOLDER = b"EXAMPLE"
SECRETS = {
    "AWS access key id": re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(
        rb"(?i)aws_secret_access_key\s*[=:]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
    ),
    # a header with a key after it (TLS libraries hold the bare header strings): optional
    # RFC 1421 headers (Proc-Type, DEK-Info), then base64, newlines possibly JSON-escaped
    "private key": re.compile(
        rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:\s|\\[rn])*"
        rb"(?:[A-Za-z-]+: [^\r\n\\]*(?:\s|\\[rn])+)*[A-Za-z0-9+/]{40}"
    ),
}
# cheap tests before the expressions (almost no chunk of a 1.9 GB image has any of them)
PREFILTERS = {
    "AWS access key id": (b"AKIA", b"ASIA"),
    "AWS secret access key": (b"ecret_access_key", b"ECRET_ACCESS_KEY", b"ecret_Access_Key"),
    "private key": (b"PRIVATE KEY-----",),
}
# files that hold credentials by their nature, wherever they are
CREDENTIAL_FILES = re.compile(
    r"(^|/)(\.netrc|_netrc|\.pypirc|\.git-credentials|\.npmrc|pip\.conf|pip\.ini"
    r"|\.aws/credentials|\.aws/config|\.docker/config\.json|id_rsa|id_ecdsa|id_ed25519)$"
)
URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@\"']+:[^/\s@\"']+@", re.I)
BUILD_VARIABLES = re.compile(
    r"\b(HTTPS?_PROXY|FTP_PROXY|ALL_PROXY|NO_PROXY|PIP_INDEX_URL|PIP_EXTRA_INDEX_URL"
    r"|PIP_TRUSTED_HOST|PIP_CERT|PIP_CLIENT_CERT|REQUESTS_CA_BUNDLE|SSL_CERT_FILE|CURL_CA_BUNDLE"
    r"|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN)=",
    re.I,
)
PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s+([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE")
CHUNK = 8 << 20
OVERLAP = 256


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.lower())


# ----------------------------------------------------------------------------------- SBOM


@pytest.mark.docker
def test_sbom_lists_what_is_installed_in_the_image(image: str, tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    out = tmp_path / "sbom.cdx.json"
    done = subprocess.run(
        [str(SBOM), image, str(out)], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.6")
    image_id = docker("image", "inspect", "-f", "{{.Id}}", image).stdout.strip()
    subject = bom["metadata"]["component"]
    assert subject["type"] == "container" and subject["bom-ref"] == image_id

    listed = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "/opt/byoc/bin/python", image,
        "-m", "pip", "list", "--format", "json",
    ).stdout  # fmt: skip
    installed = {normalise(p["name"]): p["version"] for p in json.loads(listed)}
    components = {normalise(c["name"]): c["version"] for c in bom["components"]}
    assert len(components) == len(bom["components"])  # one entry per distribution
    assert components == installed
    for name in ("flask", "gunicorn", "numpy", "tensorflow-cpu", "sagemaker-inference", "byoc"):
        assert name in components, name
    for component in bom["components"]:  # byoc itself comes from the build's wheel, not PyPI
        if component["name"] != "byoc":
            # the purl spec's PyPI name: lower case, "_" as "-" (a "." stays, as in
            # backports.strenum); the same distribution as the component's name
            match = re.fullmatch(r"pkg:pypi/([^@]+)@(.+)", component["purl"])
            assert match is not None, component["purl"]
            purl_name, purl_version = match.groups()
            assert purl_name == purl_name.lower() and "_" not in purl_name, component["purl"]
            assert normalise(purl_name) == normalise(component["name"]), component["purl"]
            assert purl_version == component["version"], component["purl"]
    print(f"SBOM: {len(components)} components")


# ------------------------------------------------------------------ secrets and build CAs


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    # secrets in files, kept apart: a file Debian ships verbatim is no leak of this build
    # (libgnutls holds its self-test keys), found by the md5sum dpkg recorded for it
    in_files: list[tuple[str, str, str]] = field(default_factory=list)  # problem, path, md5
    dpkg_md5: dict[str, str] = field(default_factory=dict)
    package_certs: set[str] = field(default_factory=set)  # usr/share/ca-certificates/**
    bundles: dict[str, set[str]] = field(default_factory=dict)  # etc/ssl/certs files
    files: int = 0
    layers: int = 0


def cert_bodies(data: bytes) -> set[str]:
    return {re.sub(rb"\s+", b"", m.group(1)).decode() for m in PEM_CERT.finditer(data)}


def host_extra_cas() -> dict[str, list[bytes]]:
    """This machine's CAs that are not Debian's (a proxy's): what a build must not leave.

    Each maps to needles: a line of its PEM body and a slice of its DER bytes.
    """
    extra: set[str] = set()
    for directory in (Path("/usr/local/share/ca-certificates"), Path("/etc/ssl/certs")):
        for path in directory.glob("**/*") if directory.is_dir() else []:
            if path.is_file() and path.suffix in (".crt", ".pem"):
                extra |= cert_bodies(path.read_bytes())
    for variable in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        bundle = os.environ.get(variable)
        if bundle and Path(bundle).is_file():
            extra |= cert_bodies(Path(bundle).read_bytes())
    packaged: set[str] = set()
    for path in Path("/usr/share/ca-certificates").glob("**/*.crt"):
        packaged |= cert_bodies(path.read_bytes())
    needles = {}
    for body in extra - packaged:
        der = base64.b64decode(body)
        needles[body[:40]] = [body[64:128].encode(), der[len(der) // 2 : len(der) // 2 + 48]]
    return needles


def scan_content(
    stream: IO[bytes], where: str, needles: dict[str, list[bytes]], found: Findings, path: str = ""
) -> bytes:
    """Look for secrets and the host's CAs in one file; returns its start (for PEM parsing)."""
    head = b""
    tail = b""
    digest = hashlib.md5(usedforsecurity=False)
    secrets: set[str] = set()
    while chunk := stream.read(CHUNK):
        if not head:
            head = chunk[: 4 << 20]
        digest.update(chunk)
        window = tail + chunk
        for kind, pattern in SECRETS.items():
            if not any(p in window for p in PREFILTERS[kind]):
                continue
            for match in pattern.finditer(window):
                if PLACEHOLDER not in match.group(match.lastindex or 0):
                    secrets.add(f"{kind} in {where}: {match.group(0)[:60]!r}")
        for ca, marks in needles.items():
            if any(mark in window for mark in marks):
                found.problems.append(f"this machine's CA {ca}... in {where}")
        tail = window[-OVERLAP:]
    found.in_files += [(problem, path, digest.hexdigest()) for problem in sorted(secrets)]
    return head


def inspect_layer(
    layer: tarfile.TarFile, blob: str, needles: dict[str, list[bytes]], found: Findings
) -> None:
    found.layers += 1
    for member in layer:
        path = member.name.removeprefix("./").lstrip("/")
        if "/.wh." in f"/{path}":
            continue  # a deletion marker
        where = f"{path} (layer {blob[:12]})"
        if CREDENTIAL_FILES.search(path):
            found.problems.append(f"a credentials file: {where}")
        if path.startswith("usr/local/share/ca-certificates/") and not member.isdir():
            found.problems.append(f"a CA certificate added at build time: {where}")
        if not member.isfile():
            continue
        found.files += 1
        stream = layer.extractfile(member)
        assert stream is not None
        head = scan_content(stream, where, needles, found, path)
        if path.startswith("var/lib/dpkg/info/") and path.endswith(".md5sums"):
            for line in head.decode(errors="replace").splitlines():
                md5, _, listed = line.partition("  ")
                found.dpkg_md5[listed] = md5
        if path.startswith("usr/share/ca-certificates/") and path.endswith(".crt"):
            found.package_certs |= cert_bodies(head)
        elif path.startswith("etc/ssl/certs/"):
            found.bundles[where] = cert_bodies(head)


def blob_name(member: str) -> str:
    """``<id>/layer.tar`` (Docker's own format) or ``blobs/sha256/<digest>`` (OCI): the id."""
    return member.removesuffix("/layer.tar").rsplit("/", 1)[-1]


def inspect_saved_image(image: str) -> Findings:
    needles = host_extra_cas()
    found = Findings()
    with subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE) as save:
        assert save.stdout is not None
        with tarfile.open(fileobj=save.stdout, mode="r|") as saved:
            for member in saved:
                stream = saved.extractfile(member) if member.isfile() else None
                if stream is None:
                    continue
                if member.size < (1 << 20):  # the configuration, manifests, an empty layer
                    data = stream.read()
                    if data[257:262] == b"ustar":
                        with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                            inspect_layer(layer, blob_name(member.name), needles, found)
                    else:
                        inspect_json(member.name, data, needles, found)
                    continue
                with tarfile.open(fileobj=stream, mode="r|*") as layer:
                    inspect_layer(layer, blob_name(member.name), needles, found)
    assert save.returncode == 0
    return found


def inspect_json(name: str, data: bytes, needles: dict[str, list[bytes]], found: Findings) -> None:
    """The image configuration (environment, history), manifests: secrets and build variables."""
    scan_content(io.BytesIO(data), name, needles, found)
    text = data.decode(errors="replace")
    for match in URL_CREDENTIALS.finditer(text):
        found.problems.append(f"a URL with credentials in {name}: {match.group(0)}")
    for match in BUILD_VARIABLES.finditer(text):
        found.problems.append(f"a build variable in {name}: {match.group(0)}")


def history_lines(image: str) -> Iterator[str]:
    out = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    yield from out.splitlines()


def image_problems(image: str) -> tuple[list[str], Findings]:
    """Everything in ``image`` that looks like a credential or a CA the build brought."""
    problems = []
    for line in history_lines(image):
        if URL_CREDENTIALS.search(line) or BUILD_VARIABLES.search(line):
            problems.append(f"docker history: {line[:200]}")
        for kind, pattern in SECRETS.items():
            if pattern.search(line.encode()):
                problems.append(f"docker history: {kind}: {line[:200]}")
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    for variable in config.get("Env") or []:
        if BUILD_VARIABLES.match(variable) or URL_CREDENTIALS.search(variable):
            problems.append(f"image environment: {variable}")

    found = inspect_saved_image(image)
    problems += found.problems
    debian = [p for p, path, md5 in found.in_files if found.dpkg_md5.get(path) == md5]
    problems += [p for p, path, md5 in found.in_files if found.dpkg_md5.get(path) != md5]
    print(f"in files Debian ships verbatim (not this build's): {len(debian)}", *debian, sep="\n")
    # The CA bundles hold Debian's certificates (the ca-certificates package) and nothing else.
    assert len(found.package_certs) > 100
    bundles = {where: certs for where, certs in found.bundles.items() if certs}
    assert any(w.startswith("etc/ssl/certs/ca-certificates.crt") for w in bundles), bundles.keys()
    for where, certs in bundles.items():
        foreign = certs - found.package_certs
        if foreign:
            problems.append(f"{len(foreign)} certificates not from Debian's package in {where}")
    print(f"inspected {found.layers} layers, {found.files} files of {image}")
    return problems, found


@pytest.mark.docker
def test_no_credentials_or_build_ca_in_history_or_layers(image: str) -> None:
    problems, found = image_problems(image)
    assert found.layers > 3 and found.files > 10_000, (found.layers, found.files)
    assert not problems, "\n".join(problems)


@pytest.mark.docker
def test_the_inspection_finds_what_a_careless_build_leaves(tmp_path: Path) -> None:
    """An image with each kind of leak planted (fresh random values): each one is reported."""
    base = os.environ.get("BYOC_BASE_IMAGE", "byoc-base:bookworm")
    if docker("image", "inspect", base, check=False).returncode != 0:
        pytest.fail(f"base image {base} is missing: bash .ci/docker-setup.sh builds it")
    rand = secrets.SystemRandom()
    key_id = "AKIA" + "".join(
        rand.choice(string.ascii_uppercase + string.digits) for _ in range(16)
    )
    secret_key = base64.b64encode(secrets.token_bytes(30)).decode()
    fake_ca = base64.encodebytes(secrets.token_bytes(600)).decode()
    context = tmp_path / "context"
    for path, text in {
        "root/.netrc": "machine pypi.example.com login ci password hunter2\n",
        "opt/app/settings.py": f'KEY = "{key_id}"\naws_secret_access_key = "{secret_key}"\n',
        "opt/app/key.pem": "-----BEGIN RSA PRIVATE KEY-----\n" + fake_ca[:128],
        "usr/local/share/ca-certificates/proxy.crt": (
            f"-----BEGIN CERTIFICATE-----\n{fake_ca}-----END CERTIFICATE-----\n"
        ),
    }.items():
        (context / path).parent.mkdir(parents=True, exist_ok=True)
        (context / path).write_text(text)
    (context / "Dockerfile").write_text(
        f"FROM {base}\n"
        "ARG PIP_EXTRA_INDEX_URL\n"
        "COPY root /root\nCOPY opt /opt\nCOPY usr /usr\n"
        # the proxy CA appended to the bundle, the .netrc deleted again (still in its layer)
        "RUN cat /usr/local/share/ca-certificates/proxy.crt >> /etc/ssl/certs/ca-certificates.crt"
        ' && rm /root/.netrc && echo "$PIP_EXTRA_INDEX_URL" > /dev/null\n'
    )
    tag = f"byoc-leaky-test:{secrets.token_hex(4)}"
    build = subprocess.run(
        ["docker", "build", "-q", "-t", tag, "--build-arg",
         "PIP_EXTRA_INDEX_URL=https://ci:hunter2@pypi.example.com/simple", str(context)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    try:
        problems, _ = image_problems(tag)
    finally:
        docker("rmi", "-f", tag, check=False)
    report = "\n".join(problems)
    for expected in (
        "a credentials file: root/.netrc",
        "AWS access key id in opt/app/settings.py (layer",
        "AWS secret access key in opt/app/settings.py",
        "private key in opt/app/key.pem",
        "a CA certificate added at build time: usr/local/share/ca-certificates/proxy.crt",
        "1 certificates not from Debian's package in etc/ssl/certs/ca-certificates.crt",
        "docker history: |1 PIP_EXTRA_INDEX_URL=https://ci:hunter2@",
    ):
        assert expected in report, f"{expected!r} not in:\n{report}"


# ------------------------------------------------------------------------- the scan step


def run_scan(tmp_path: Path, path: str, **env: str) -> tuple[subprocess.CompletedProcess[str], str]:
    report = tmp_path / "scan-report.txt"
    done = subprocess.run(
        ["bash", str(SCAN), "byoc-not-scanned:latest", str(report)],
        env={"PATH": path, "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, report.read_text()


def test_scan_without_grype_says_skipped_and_does_not_fail(tmp_path: Path) -> None:
    junit = tmp_path / "reports" / "scan.xml"
    done, report = run_scan(tmp_path, "/usr/bin:/bin", BYOC_SCAN_JUNIT=str(junit))
    assert done.returncode == 0, done.stderr
    first = report.splitlines()[0]
    assert first.startswith("SKIPPED: no vulnerability database reachable (grype is not installed")
    assert first in done.stdout and "this is not a pass" in done.stderr
    case = ET.parse(junit).getroot().find("testsuite/testcase")
    assert case is not None
    skipped = case.find("skipped")
    assert skipped is not None and skipped.get("message") == first
    assert ET.parse(junit).getroot().find("testsuite").get("skipped") == "1"  # type: ignore[union-attr]

    done, report = run_scan(tmp_path, "/usr/bin:/bin", BYOC_SCAN_REQUIRED="true")
    assert done.returncode == 1 and report.startswith("SKIPPED: no vulnerability database")
    assert "BYOC_SCAN_REQUIRED=true" in done.stderr


def test_scan_with_an_unreachable_database_says_skipped_and_scans_nothing(tmp_path: Path) -> None:
    # grype itself cannot be had here; this stand-in answers as it does with no way to its
    # database (the download fails, nothing on disk) and records any scan it is asked for.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    grype = bin_dir / "grype"
    grype.write_text(
        "#!/bin/sh\n"
        'case "$1 $2" in\n'
        '  "db update") echo "failed to load vulnerability db: Get '
        '\\"https://grype.anchore.io/databases/v6/latest.json\\": dial tcp: lookup '
        'grype.anchore.io: no such host" >&2; exit 1 ;;\n'
        '  "db check") echo "no installed DB" >&2; exit 1 ;;\n'
        f'  *) echo "$@" >> {tmp_path / "scanned"}; exit 0 ;;\n'
        "esac\n"
    )
    grype.chmod(0o755)
    done, report = run_scan(tmp_path, f"{bin_dir}:/usr/bin:/bin")
    assert done.returncode == 0, done.stderr
    first = report.splitlines()[0]
    assert first.startswith("SKIPPED: no vulnerability database reachable (grype db update failed")
    assert "no such host" in first
    assert not (tmp_path / "scanned").exists()

    done, report = run_scan(tmp_path, f"{bin_dir}:/usr/bin:/bin", BYOC_SCAN_OFFLINE="true")
    assert done.returncode == 0 and "BYOC_SCAN_OFFLINE=true" in report.splitlines()[0]
    assert not (tmp_path / "scanned").exists()
