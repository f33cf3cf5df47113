"""``byoc init``: the project it writes, rendered, run on this machine and built into images.

Fast: generation is deterministic, a re-run refuses to replace differing files (naming
them) without --force, every framework's templates render into files that compile, lint
and parse. Host: the numpy-only project (and, slow, the TensorFlow one) trains and serves
in process. Docker: the scikit-learn, XGBoost and (slow: a 1.9 GB image, minutes to build)
TensorFlow projects are built on the local base, trained, served and predicted like
SageMaker would, then run their own tests (which include ``byoc check``). PyTorch is
rendered and compiled only: its CPU wheel index (download.pytorch.org) is out of reach of
these machines' docker builds.
"""

from __future__ import annotations

import json
import os
import py_compile
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from byoc.cli import cli
from byoc.cli_init import _FRAMEWORKS
from byoc.core import Service
from byoc.local import docker, start_endpoint, train
from byoc.scaffold import FRAMEWORKS, File, project_files
from byoc.settings import Settings

from .conftest import require
from .docker_support import require_docker
from .server import free_port

EXPECTED = ["setosa", "versicolor", "virginica"]  # the sample payloads' three flowers


def init(directory: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["init", str(directory), *args])
    return result.exit_code, result.output


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {
        path.relative_to(directory).as_posix(): (path.read_bytes(), path.stat().st_mode & 0o777)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("init") / "my-model"
    code, output = init(directory, "--framework", "sklearn")
    assert code == 0, output
    return directory


def test_generating_twice_gives_identical_files(project: Path, tmp_path: Path) -> None:
    code, output = init(tmp_path / "my-model", "--framework", "sklearn")
    assert code == 0, output
    first, second = snapshot(project), snapshot(tmp_path / "my-model")
    assert first == second
    assert "wheels/byoc-0.1.0-py3-none-any.whl" in first
    assert first["build.sh"][1] == 0o755 and first["Dockerfile"][1] == 0o644
    assert "image my-model" in output  # the name defaults to the directory's


def test_a_rerun_refuses_to_replace_what_differs_and_names_it(tmp_path: Path) -> None:
    project = tmp_path / "my-model"
    args = ("--framework", "sklearn", "--no-wheel")
    assert init(project, *args)[0] == 0
    before = snapshot(project)
    code, output = init(project, *args)
    assert code == 0 and "0 file(s) written" in output  # nothing differs: nothing to do
    edited = project / "code" / "train.py"
    edited.write_text("# mine\n")
    (project / "requirements.txt").chmod(0o755)
    (project / "notes.txt").write_text("mine too\n")
    code, output = init(project, *args)
    assert code == 1
    differing = [line.strip() for line in output.splitlines() if line.startswith("  ")]
    assert differing == ["code/train.py", "requirements.txt"]
    assert "--force" in output and edited.read_text() == "# mine\n"
    code, output = init(project, *args, "--force")
    assert code == 0 and "overwrote code/train.py" in output
    assert snapshot(project) == {**before, "notes.txt": (b"mine too\n", 0o644)}


def test_bad_names_and_frameworks_are_refused(tmp_path: Path) -> None:
    code, output = init(tmp_path / "My Model", "--framework", "custom", "--no-wheel")
    assert code == 2 and "--name" in output
    code, output = init(tmp_path / "x", "--framework", "keras")
    assert code == 2 and "sklearn" in output
    assert not (tmp_path / "x").exists()
    assert tuple(FRAMEWORKS) == _FRAMEWORKS


def test_the_wheel_carries_the_templates(project: Path) -> None:
    with zipfile.ZipFile(project / "wheels" / "byoc-0.1.0-py3-none-any.whl") as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read("byoc-0.1.0.dist-info/entry_points.txt").decode()
    for framework in FRAMEWORKS:
        assert f"byoc/scaffold/templates/{framework}/code/train.py.j2" in names
    assert "byoc/scaffold/templates/common/.dockerignore" in names
    assert "byoc = byoc.cli:main" in entry_points


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_every_framework_renders_files_that_compile(framework: str, tmp_path: Path) -> None:
    files = project_files(framework, f"my-{framework}", with_wheel=False)
    for file in files:
        target = tmp_path / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.data)
        text = file.data.decode()
        assert "{{" not in text and "{%" not in text, file.path
        if file.path.endswith(".py"):
            py_compile.compile(str(target), doraise=True)
        elif file.path.endswith(".sh") or file.path.startswith("bin/"):
            assert subprocess.run(["bash", "-n", str(target)], check=False).returncode == 0
        elif file.path.endswith(".json"):
            json.loads(text)
    assert yaml.safe_load((tmp_path / "buildspec.yml").read_text())["version"] == 0.2
    requirements = (tmp_path / "requirements.txt").read_text()
    assert all(line in requirements for line in FRAMEWORKS[framework].requirements)
    dockerfile = (tmp_path / "Dockerfile").read_text()
    assert "ARG BYOC_SPEC=byoc==0.1.0" in dockerfile
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    linted = subprocess.run([hadolint, str(tmp_path / "Dockerfile")], capture_output=True)
    assert linted.returncode == 0, linted.stdout.decode()
    assert not [f for f in files if f.path.startswith("wheels/") and f.path.endswith(".whl")]


def write_files(directory: Path, files: list[File]) -> None:
    for file in files:
        (directory / file.path).parent.mkdir(parents=True, exist_ok=True)
        (directory / file.path).write_bytes(file.data)


@pytest.fixture
def clean_imports() -> Iterator[None]:
    """The project's code modules (dataset, train, inference) leave sys.modules after."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        module = sys.modules[name]
        if "/code/" in str(getattr(module, "__file__", "")):
            del sys.modules[name]


def train_and_serve_on_host(framework: str, root: Path) -> None:
    """train.py as `train` would run it, then inference.py through byoc's Service."""
    write_files(root, project_files(framework, "host", with_wheel=False))
    data = root / "local_test" / "test_dir" / "input" / "data" / "training"
    hyperparameters = json.loads(
        (root / "local_test/test_dir/input/config/hyperparameters.json").read_text()
    )
    args = [a for k, v in hyperparameters.items() for a in (f"--{k}", v)]
    model = root / "ml" / "model"
    trained = subprocess.run(
        [sys.executable, "code/train.py", "--train", str(data), "--model-dir", str(model), *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "accuracy=" in trained.stdout
    settings = Settings.from_env(
        {"SAGEMAKER_BASE_DIR": str(root / "ml"), "BYOC_HANDLER": str(root / "code/inference.py")}
    )
    service = Service(settings)
    service.load()
    assert service.ping().status == 200, service.ping().body
    payloads = root / "local_test" / "payloads"
    answer = service.invoke((payloads / "sample.json").read_bytes(), "application/json", None, {})
    assert answer.status == 200 and json.loads(answer.body) == {"predictions": EXPECTED}
    answer = service.invoke((payloads / "sample.csv").read_bytes(), "text/csv", "text/csv", {})
    assert answer.status == 200 and answer.body.decode().splitlines() == EXPECTED
    bad = service.invoke((payloads / "bad-columns.csv").read_bytes(), "text/csv", None, {})
    assert bad.status == 400 and b"columns" in bad.body
    assert service.invoke(b"1,2,3,4", "text/csv", "application/x-npy", {}).status == 406


def test_the_numpy_project_trains_and_serves_on_this_machine(
    tmp_path: Path, clean_imports: None
) -> None:
    train_and_serve_on_host("custom", tmp_path)


@pytest.mark.slow
def test_the_tensorflow_project_trains_and_serves_on_this_machine(
    tmp_path: Path, clean_imports: None
) -> None:
    require("tensorflow", "to run the TensorFlow project's code (the tf extra)")
    train_and_serve_on_host("tensorflow", tmp_path)


def build(directory: Path, name: str) -> str:
    """./build.sh on the local base; only NAME:latest is kept (the layers cache the next run)."""
    args = [str(directory / "build.sh"), "--name", name]
    base = os.environ.get("BYOC_BASE_IMAGE", "byoc-base:bookworm")
    if docker("image", "inspect", base, check=False).returncode == 0:
        args += ["--base", base]
    built = subprocess.run(args, capture_output=True, text=True, timeout=1800, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    tag = built.stdout.strip().splitlines()[-1]
    version = tag.rsplit(":", 1)[1].split("-", 1)[0]  # NAME:VERSION-REVISION
    docker("image", "rm", tag, f"{name}:{version}", check=False)
    return f"{name}:latest"


@pytest.mark.docker
@pytest.mark.parametrize(
    "framework", ["sklearn", "xgboost", pytest.param("tensorflow", marks=pytest.mark.slow)]
)
def test_the_project_builds_trains_serves_and_passes_its_own_tests(
    framework: str, tmp_path: Path
) -> None:
    require_docker()
    project = tmp_path / f"byoc-init-{framework}"
    code, output = init(project, "--framework", framework)
    assert code == 0, output
    started = time.monotonic()
    image = build(project, f"byoc-init-test-{framework}")
    timings = {"build": time.monotonic() - started}

    job = tmp_path / "job"
    shutil.copytree(project / "local_test" / "test_dir" / "input", job / "input")
    started = time.monotonic()
    result = train(image, job, network=False, stream=False)
    timings["train"] = time.monotonic() - started
    assert result.exit_code == 0, result.failure_reason
    endpoint = start_endpoint(image, job / "model", port=free_port())
    try:
        timings["healthy"] = endpoint.wait_healthy(120)
        started = time.monotonic()
        sample = (project / "local_test" / "payloads" / "sample.csv").read_bytes()
        status, body = endpoint.invoke(sample, "text/csv", "application/json")
        timings["first prediction"] = time.monotonic() - started
        assert status == 200 and json.loads(body) == {"predictions": EXPECTED}
    finally:
        endpoint.stop()

    # byoc init inside the image (byoc installed from the wheel, no repository around)
    # writes the same project, and a wheel repacked from the installed files.
    inside = docker(
        "run", "--rm", "--entrypoint", "sh", image, "-c",
        f"byoc init /tmp/p --framework {framework} --name {project.name} >/dev/null && cd "
        "/tmp/p && find . -type f ! -name '*.whl' -exec sha256sum {} + | sort -k2",
    )  # fmt: skip
    hashes = subprocess.run(
        "find . -type f ! -name '*.whl' -exec sha256sum {} + | sort -k2",
        shell=True, cwd=project, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert inside.stdout == hashes.stdout

    env = dict(os.environ, IMAGE=image, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    own = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project, env=env, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert own.returncode == 0, own.stdout[-5000:]
    assert "6 passed" in own.stdout and "skipped" not in own.stdout, own.stdout[-2000:]
    size = docker("image", "inspect", "--format", "{{.Size}}", image).stdout.strip()
    print(f"{framework}: image {int(size) / 1e6:.0f} MB, " + ", ".join(
        f"{name} {seconds * 1000:.0f} ms" for name, seconds in timings.items()
    ))  # fmt: skip
