"""The training runtime: config files, environment, failures, signals, pipe mode, hosts."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from byoc.metrics import format_metrics, log_metrics, metric_definitions
from byoc.paths import MLPaths
from byoc.training import read_config, run_training
from byoc.training.errors import TrainingError
from byoc.training.runner import wait_for_hosts

from .server import REPO

PROGRAM = Path(__file__).parent / "programs" / "report.py"


def job(
    root: Path, hyperparameters: Any = None, channels: Any = None, resources: Any = None
) -> MLPaths:
    paths = MLPaths(root)
    paths.input_config_dir.mkdir(parents=True)
    paths.channel_dir("training").mkdir(parents=True)
    (paths.channel_dir("training") / "data.csv").write_text("1,2\n")
    files = {
        paths.hyperparameters_file: {
            "epochs": "3",
            "lr": "0.1",
            "optimizer": "adam",
            "layers": "[64, 32]",
            "sagemaker_program": "report.py",
        }
        if hyperparameters is None
        else hyperparameters,
        paths.inputdataconfig_file: {
            "training": {"ContentType": "text/csv", "TrainingInputMode": "File"}
        }
        if channels is None
        else channels,
        paths.resourceconfig_file: {"current_host": "algo-1", "hosts": ["algo-1"]}
        if resources is None
        else resources,
    }
    for path, content in files.items():
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return paths


def run(paths: MLPaths, action: str = "ok", **env: str) -> int:
    environ = {**os.environ, "BYOC_TRAINING_PROGRAM": str(PROGRAM), "TEST_ACTION": action, **env}
    return run_training(paths, environ)


def report(paths: MLPaths) -> dict[str, Any]:
    return json.loads((paths.output_data_dir / "report.json").read_text())  # type: ignore[no-any-return]


def failure(paths: MLPaths) -> str:
    return paths.failure_file.read_text()


def test_program_gets_the_toolkit_environment_and_arguments(tmp_path: Path) -> None:
    paths = job(tmp_path)
    assert run(paths) == 0
    assert not paths.failure_file.exists()
    got = report(paths)
    assert got["argv"] == [
        "--epochs",
        "3",
        "--lr",
        "0.1",
        "--optimizer",
        "adam",
        "--layers",
        "[64, 32]",
    ]
    env = got["env"]
    assert env["SM_MODEL_DIR"] == str(paths.model_dir)
    assert json.loads(env["SM_CHANNELS"]) == ["training"]
    assert env["SM_CHANNEL_TRAINING"] == str(paths.channel_dir("training"))
    assert json.loads(env["SM_HPS"]) == {
        "epochs": 3,
        "lr": 0.1,
        "optimizer": "adam",
        "layers": [64, 32],
    }
    assert (
        env["SM_HP_EPOCHS"] == "3"
        and env["SM_HP_OPTIMIZER"] == "adam"
        and env["SM_HP_LAYERS"] == "[64, 32]"
    )
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"] and env["SM_CURRENT_HOST"] == "algo-1"
    assert int(env["SM_NUM_CPUS"]) >= 1 and env["SM_NUM_GPUS"] == "0"
    for name, path in {
        "SM_OUTPUT_DATA_DIR": paths.output_data_dir,
        "SM_OUTPUT_DIR": paths.output_dir,
        "SM_INPUT_DIR": paths.input_dir,
        "SM_INPUT_CONFIG_DIR": paths.input_config_dir,
        "SM_OUTPUT_INTERMEDIATE_DIR": paths.output_intermediate_dir,
    }.items():
        assert env[name] == str(path)
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["hyperparameters"]["epochs"] == 3
    assert training_env["additional_framework_parameters"] == {"sagemaker_program": "report.py"}
    assert training_env["channel_input_dirs"] == {"training": str(paths.channel_dir("training"))}
    assert "TF_CONFIG" not in env and "MASTER_ADDR" not in env  # single host


def test_sdk_program_is_found_in_the_code_directory(tmp_path: Path) -> None:
    paths = job(tmp_path)
    paths.code_dir.mkdir()
    (paths.code_dir / "report.py").write_text(PROGRAM.read_text())
    assert run_training(paths, {**os.environ, "TEST_ACTION": "ok"}) == 0
    assert report(paths)["env"]["SM_USER_ENTRY_POINT"] == str(paths.code_dir / "report.py")


def test_missing_program_fails_with_the_places_looked(tmp_path: Path) -> None:
    paths = job(tmp_path, hyperparameters={})
    assert run_training(paths, {}) == 2
    assert failure(paths).startswith("ClientError: no training program found")
    assert str(paths.code_dir / "train.py") in failure(paths)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"hyperparameters": '{"epochs": 3'},
            "ClientError: hyperparameters.json is not valid JSON: Expecting",
        ),
        (
            {"hyperparameters": '["epochs"]'},
            "ClientError: hyperparameters.json must be a JSON object, not list",
        ),
        (
            {"hyperparameters": {"bad name!": "1"}},
            "ClientError: invalid hyperparameter name 'bad name!'",
        ),
        (
            {"hyperparameters": {"layers": [1, 2]}},
            "ClientError: invalid hyperparameter 'layers': values must be strings",
        ),
        (
            {"channels": {"validation": {"TrainingInputMode": "File"}}},
            "ClientError: channel 'validation' is declared",
        ),
        (
            {"channels": {"training": {"TrainingInputMode": "Stream"}}},
            "ClientError: inputdataconfig.json: channel 'training' has TrainingInputMode 'Stream'",
        ),
        (
            {"resources": {"current_host": "algo-9", "hosts": ["algo-1"]}},
            "ClientError: resourceconfig.json: current_host 'algo-9' is not in",
        ),
        ({"resources": "{"}, "ClientError: resourceconfig.json is not valid JSON"),
    ],
)
def test_bad_configuration_leaves_a_failure_reason(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    paths = job(tmp_path, **kwargs)
    assert run(paths) == 2
    assert failure(paths).startswith(message), failure(paths)
    assert not (paths.output_data_dir / "report.json").exists()  # the program never ran


def test_crash_puts_the_exception_first_then_stderr(tmp_path: Path) -> None:
    paths = job(tmp_path)
    assert run(paths, "raise") == 1
    text = failure(paths)
    first = text.splitlines()[0]
    assert re.fullmatch(
        r"AlgorithmError: training program .*report\.py exited with code 1: "
        r"ValueError: learning rate is negative",
        first,
    )
    assert "Traceback (most recent call last)" in text  # the stderr tail follows
    assert len(text[:1024]) <= 1024 and "ValueError" in text[:1024]


def test_nonzero_exit_without_traceback_uses_the_last_stderr_line(tmp_path: Path) -> None:
    paths = job(tmp_path)
    assert run(paths, "exit") == 3
    assert failure(paths).splitlines()[0].endswith("exited with code 3: giving up: no GPU found")


def test_killed_program_names_the_signal_and_the_oom_killer(tmp_path: Path) -> None:
    paths = job(tmp_path)
    assert run(paths, "sigkill") == 137
    line = failure(paths).splitlines()[0]
    assert "killed by SIGKILL (signal 9, exit code 137), " in line
    assert "out-of-memory killer" in line  # whether it was (tests/test_training_faults.py)


def test_memory_error_is_named(tmp_path: Path) -> None:
    paths = job(tmp_path)
    assert run(paths, "memory") == 1
    assert failure(paths).splitlines()[0].endswith(": MemoryError")


def test_programs_own_failure_text_is_kept(tmp_path: Path) -> None:
    paths = job(tmp_path)
    assert run(paths, "own-failure") == 1
    lines = failure(paths).splitlines()
    assert lines[0].startswith("AlgorithmError:") and "exited with code 1" in lines[0]
    assert "Dataset has 0 rows after filtering" in failure(paths)[:1024]


def test_stale_failure_file_is_removed_on_success(tmp_path: Path) -> None:
    paths = job(tmp_path)
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    paths.failure_file.write_text("old")
    assert run(paths) == 0
    assert not paths.failure_file.exists()


def test_sigterm_reaches_the_program(tmp_path: Path) -> None:
    paths = job(tmp_path)
    env = {
        **os.environ,
        "BYOC_TRAINING_PROGRAM": str(PROGRAM),
        "TEST_ACTION": "sigterm",
        "SAGEMAKER_BASE_DIR": str(tmp_path),
    }
    process = subprocess.Popen([str(REPO / "train")], env=env, stderr=subprocess.PIPE)
    ready = paths.output_data_dir / "ready"
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert ready.exists()
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert (paths.model_dir / "saved-on-sigterm").read_text() == "yes"


def test_pipe_mode_channel_is_a_fifo_the_program_reads(tmp_path: Path) -> None:
    paths = job(tmp_path, channels={"training": {"TrainingInputMode": "Pipe"}})
    fifo = paths.data_dir / "training_0"
    os.mkfifo(fifo)
    payload = b"x" * 300_000

    def feed() -> None:
        with fifo.open("wb") as stream:
            stream.write(payload)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    assert run(paths, "pipe") == 0
    writer.join(10)
    assert (paths.model_dir / "bytes-read").read_text() == str(len(payload))


def test_distributed_hosts_get_tf_config_and_rendezvous(tmp_path: Path) -> None:
    paths = job(
        tmp_path, resources={"current_host": "127.0.0.1", "hosts": ["localhost", "127.0.0.1"]}
    )
    assert run(paths) == 0
    env = report(paths)["env"]
    assert json.loads(env["TF_CONFIG"]) == {
        "cluster": {"worker": ["localhost:8890", "127.0.0.1:8890"]},
        "task": {"type": "worker", "index": 1},
    }
    assert (env["MASTER_ADDR"], env["MASTER_PORT"], env["WORLD_SIZE"], env["RANK"]) == (
        "localhost",
        "7777",
        "2",
        "1",
    )


def test_unresolvable_hosts_fail_after_a_bounded_wait(tmp_path: Path) -> None:
    paths = job(
        tmp_path, resources={"current_host": "algo-1", "hosts": ["algo-1", "algo-2.invalid"]}
    )
    started = time.monotonic()
    assert run(paths, BYOC_HOST_WAIT_SECONDS="1") == 1
    assert time.monotonic() - started < 15
    assert "algo-2.invalid did not resolve within 1s" in failure(paths).splitlines()[0]


def test_wait_for_hosts_returns_once_they_resolve() -> None:
    calls: list[str] = []

    def resolve(host: str) -> str:
        calls.append(host)
        if calls.count(host) < 2:
            raise OSError("not yet")
        return "10.0.0.1"

    wait_for_hosts(("algo-1", "algo-2"), 10, resolve=resolve, stop=threading.Event())
    assert calls.count("algo-2") == 2


def test_channels_default_to_data_directories(tmp_path: Path) -> None:
    paths = MLPaths(tmp_path)
    (paths.data_dir / "train").mkdir(parents=True)
    (paths.data_dir / "test").mkdir()
    config = read_config(paths)
    assert sorted(config.channels) == ["test", "train"]
    assert config.resources.hosts == ("algo-1",)


def test_training_error_text() -> None:
    assert str(TrainingError("x")) == "ClientError: x"


def test_metric_lines_match_their_definitions(capsys: pytest.CaptureFixture[str]) -> None:
    log_metrics(epoch=3, loss=0.1234567, val_loss=float("nan"), mae=1e-7)
    line = capsys.readouterr().out.strip()
    assert line == "epoch=3; loss=0.123457; val_loss=nan; mae=1e-07;"
    for definition in metric_definitions(["loss", "val_loss", "mae", "epoch"]):
        match = re.search(definition["Regex"], line)
        assert match, definition
    loss = re.search(metric_definitions(["loss"])[0]["Regex"], line)
    assert loss is not None and loss.group(1) == "0.123457"  # not val_loss's value
    with pytest.raises(ValueError):
        format_metrics(**{"bad name": 1.0})
