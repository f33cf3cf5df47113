"""``byoc package``: a deterministic model.tar.gz, and its upload to S3 (moto's server)."""

from __future__ import annotations

import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from byoc.aws import InputError, package_model

from .aws_support import REGION, moto_clients, run_byoc

pytestmark = pytest.mark.process


def model_tree(root: Path) -> tuple[Path, Path]:
    model = root / "model"
    (model / "variables").mkdir(parents=True)
    (model / "model.keras").write_bytes(b"\x00weights" * 100)
    (model / "variables" / "v.index").write_text("index")
    (model / "__pycache__").mkdir()
    (model / "__pycache__" / "x.pyc").write_bytes(b"stale")
    code = root / "code"
    code.mkdir()
    (code / "inference.py").write_text("def model_fn(d):\n    return d\n")
    (code / "requirements.txt").write_text("numpy\n")
    return model, code


byoc = run_byoc


def test_layout_model_at_root_code_under_code(tmp_path: Path) -> None:
    model, code = model_tree(tmp_path)
    archive = package_model(model, tmp_path / "out" / "model.tar.gz", code)
    with tarfile.open(archive.path) as tar:
        names = tar.getnames()
        members = tar.getmembers()
    assert names == [
        "code",
        "code/inference.py",
        "code/requirements.txt",
        "model.keras",
        "variables",
        "variables/v.index",
    ]
    assert archive.skipped == ("__pycache__/",)
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" for m in members)
    assert {m.mode for m in members if m.isfile()} == {0o644}


def test_same_input_same_bytes_whatever_the_mtimes(tmp_path: Path) -> None:
    model, code = model_tree(tmp_path)
    first = package_model(model, tmp_path / "a.tar.gz", code)
    for path in [*model.rglob("*"), *code.rglob("*")]:
        os.utime(path, (time.time() + 3600, time.time() + 3600))
    second = package_model(model, tmp_path / "b.tar.gz", code)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256
    (model / "model.keras").write_bytes(b"other")
    assert package_model(model, tmp_path / "c.tar.gz", code).sha256 != first.sha256


def test_sagemaker_style_unpack_gives_the_tree_back(tmp_path: Path) -> None:
    model, code = model_tree(tmp_path)
    archive = package_model(model, tmp_path / "model.tar.gz", code)
    target = tmp_path / "opt-ml-model"
    with tarfile.open(archive.path) as tar:
        tar.extractall(target, filter="data")
    assert (target / "model.keras").read_bytes() == (model / "model.keras").read_bytes()
    assert (target / "code" / "inference.py").read_text().startswith("def model_fn")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda m, c: m.rename(m.with_name("gone")), "does not exist or is not a directory"),
        (lambda m, c: (m / "code").mkdir(), "already has a code/ directory"),
        (lambda m, c: (m / "link").symlink_to(m / "nowhere"), "is a broken symlink"),
    ],
    ids=["no-model-dir", "code-twice", "broken-symlink"],
)
def test_bad_input_is_refused_and_nothing_written(tmp_path: Path, setup, message) -> None:  # type: ignore[no-untyped-def]
    model, code = model_tree(tmp_path)
    setup(model, code)
    with pytest.raises(InputError, match=message):
        package_model(model, tmp_path / "out.tar.gz", code)
    assert not (tmp_path / "out.tar.gz").exists()


def test_modes_do_not_depend_on_who_packs(tmp_path: Path) -> None:
    model, _ = model_tree(tmp_path)
    (model / "run.sh").write_text("#!/bin/sh\n")
    (model / "run.sh").chmod(0o744)  # executable by its owner only
    (model / "model.keras").chmod(0o600)
    with tarfile.open(package_model(model, tmp_path / "m.tar.gz").path) as tar:
        modes = {m.name: m.mode for m in tar.getmembers()}
    assert modes["run.sh"] == 0o755 and modes["model.keras"] == 0o644


def test_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    model, _ = model_tree(tmp_path)
    (model / "variables" / "up").symlink_to(model)
    with pytest.raises(InputError, match="is a symlink loop"):
        package_model(model, tmp_path / "m.tar.gz")
    assert not list(tmp_path.glob("m.tar.gz*"))


def test_the_archive_may_live_in_the_model_dir(tmp_path: Path) -> None:
    """``byoc package .`` twice: the archive (and its partial file) are never packed."""
    model, _ = model_tree(tmp_path)
    first = package_model(model, model / "model.tar.gz")
    second = package_model(model, model / "model.tar.gz")
    assert first.sha256 == second.sha256 and "model.tar.gz" not in second.files


def test_an_empty_model_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no files"):
        package_model(tmp_path / "empty", tmp_path / "out.tar.gz")


def test_upload_to_s3_stores_the_same_bytes(
    tmp_path: Path,
    aws_env: dict[str, str],
    moto_url: str,
) -> None:
    clients = moto_clients(moto_url)
    s3 = clients["s3"]
    s3.create_bucket(Bucket="models")  # type: ignore[attr-defined]
    model, code = model_tree(tmp_path)
    result = byoc(
        "package",
        str(model),
        "--code",
        str(code),
        "-o",
        str(tmp_path / "model.tar.gz"),
        "--upload",
        "s3://models/autompg/v1",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["uri"] == "s3://models/autompg/v1/model.tar.gz"
    stored = s3.get_object(Bucket="models", Key="autompg/v1/model.tar.gz")["Body"].read()  # type: ignore[attr-defined]
    assert stored == (tmp_path / "model.tar.gz").read_bytes()
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert any(e["event"] == "done" and "uploading" in e["message"] for e in events)


def test_upload_over_the_multipart_threshold(
    tmp_path: Path,
    aws_env: dict[str, str],
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from byoc.aws import Aws, Reporter
    from byoc.aws import s3 as s3_module
    from byoc.aws.validate import S3Uri

    monkeypatch.setattr(s3_module, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)
    monkeypatch.setattr(s3_module, "MULTIPART_CHUNK", 5 * 1024 * 1024)
    moto_clients(moto_url)["s3"].create_bucket(Bucket="big")  # type: ignore[attr-defined]
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(12 * 1024 * 1024))
    reporter = Reporter("quiet")
    aws = Aws.connect(REGION, moto_url)
    s3_module.upload_file(aws, blob, S3Uri("big", "k/blob.bin"), reporter)
    head = aws.client("s3").head_object(Bucket="big", Key="k/blob.bin")
    assert head["ContentLength"] == blob.stat().st_size
    assert "-3" in head["ETag"]  # three parts: a multipart upload really happened
    body = aws.client("s3").get_object(Bucket="big", Key="k/blob.bin")["Body"].read()
    assert body == blob.read_bytes()


def test_upload_to_a_bucket_in_another_region_is_refused(
    tmp_path: Path,
    aws_env: dict[str, str],
    moto_url: str,
) -> None:
    moto_clients(moto_url)["s3"].create_bucket(  # type: ignore[attr-defined]
        Bucket="far", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    model, _ = model_tree(tmp_path)
    result = byoc("package", str(model), "-o", str(tmp_path / "m.tar.gz"), "--upload", "s3://far/x")
    assert result.returncode == 2
    assert "is in eu-west-1, but this runs in us-east-1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.tar.gz").exists()


def test_upload_with_no_credentials_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _ = model_tree(tmp_path)
    env = {
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = byoc(
        "package",
        str(model),
        "-o",
        str(tmp_path / "m.tar.gz"),
        "--upload",
        "s3://bucket-x/x",
        env=env,
    )
    assert result.returncode == 2
    assert "no AWS credentials" in result.stderr
    assert not (tmp_path / "m.tar.gz").exists()  # refused before anything was written
