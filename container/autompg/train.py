"""Train a Keras DNN regressor of miles-per-gallon on Auto MPG (the container's example).

Runs under byoc's ``train`` (SageMaker's ``docker run IMAGE train``): data from
``SM_CHANNEL_TRAINING``, hyperparameters as ``--name value`` arguments, per-epoch
checkpoints in ``SM_CHECKPOINT_DIR`` (resumed from the latest), the model and a
``metadata.json`` in ``SM_MODEL_DIR``, metric lines such as ``val_loss=1.23;`` on stdout.
On SIGTERM (StopTrainingJob) it stops after the current batch, checkpoints and saves.

Beside ``model.keras`` it writes ``model.tflite``, the same model for LiteRT (edge devices
and the serving-only image), and fails the job if LiteRT's predictions of the test split
differ from Keras's by more than ``--litert-tolerance`` mpg (default 1e-3).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np
from edge import LITE_FILE, export, max_difference
from features import INPUTS, metadata, prepare

from byoc.example import read_auto_mpg
from byoc.metrics import log_metrics

VERSION = "1.0.0"
MODEL_FILE = "model.keras"
KEEP_CHECKPOINTS = 2
_PATH_ARGS = {"train", "model_dir", "checkpoint_dir"}
_CHECKPOINT = re.compile(r"^epoch-(\d+)\.keras$")


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def tolerance(text: str) -> float:
    value = float(text)
    if not value >= 0.0:  # NaN too
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


class ExportMismatch(RuntimeError):
    """The LiteRT model does not predict what the Keras model predicts."""


def layer_sizes(text: str) -> list[int]:
    sizes = [int(part) for part in text.strip("[]").replace(" ", "").split(",") if part]
    if not sizes or any(size <= 0 for size in sizes):
        raise argparse.ArgumentTypeError(f"must be positive sizes like 64,64, got {text}")
    return sizes


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=positive_int, default=200)
    parser.add_argument("--batch-size", "--batch_size", type=positive_int, default=32)
    parser.add_argument("--learning-rate", "--learning_rate", type=float, default=0.001)
    parser.add_argument("--hidden-units", "--hidden_units", type=layer_sizes, default=[64, 64])
    parser.add_argument("--validation-split", "--validation_split", type=fraction, default=0.2)
    parser.add_argument("--test-split", "--test_split", type=fraction, default=0.2)
    parser.add_argument("--patience", type=positive_int, default=15)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--litert-tolerance", "--litert_tolerance", type=tolerance, default=1e-3)
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAINING"))
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument(
        "--checkpoint-dir", default=os.environ.get("SM_CHECKPOINT_DIR", "/opt/ml/checkpoints")
    )
    args = parser.parse_args(argv)
    if args.learning_rate <= 0:
        parser.error(f"argument --learning-rate: must be positive, got {args.learning_rate}")
    return args


def find_data(channel: str | None) -> Path:
    if not channel:
        raise FileNotFoundError(
            "no training channel: SM_CHANNEL_TRAINING is not set (declare a 'training' channel)"
        )
    files = sorted(Path(channel).glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"training channel {channel} holds no .csv file")
    return files[0]


def latest_checkpoint(directory: Path) -> tuple[Path, int] | None:
    found = []
    for path in directory.glob("epoch-*.keras"):
        match = _CHECKPOINT.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    if not found:
        return None
    epoch, path = max(found)
    return path, epoch


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    data = find_data(args.train)
    if importlib.util.find_spec("tensorflow") is None:
        raise ModuleNotFoundError(
            "this image has no TensorFlow (a serving-only image, container/build.sh "
            "--serve-only): train with the full image"
        )
    started = time.perf_counter()
    import keras
    import tensorflow as tf

    import_seconds = time.perf_counter() - started
    keras.utils.set_random_seed(args.seed)

    x_raw, y = read_auto_mpg(data)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(y))
    n_test = round(len(y) * args.test_split)
    test, train = order[:n_test], order[n_test:]
    fill = np.nanmean(x_raw[train, : INPUTS - 3], axis=0)
    x = prepare(x_raw, fill)
    x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]

    checkpoints = Path(args.checkpoint_dir)
    checkpoints.mkdir(parents=True, exist_ok=True)
    resume = latest_checkpoint(checkpoints)
    if resume is not None:
        model = keras.models.load_model(resume[0])
        initial_epoch = resume[1]
        print(f"resuming from {resume[0]} (epoch {initial_epoch})", flush=True)
    else:
        normalizer = keras.layers.Normalization(axis=-1)
        normalizer.adapt(x_train)
        layers = [keras.Input(shape=(INPUTS,)), normalizer]
        layers += [keras.layers.Dense(units, activation="relu") for units in args.hidden_units]
        layers.append(keras.layers.Dense(1))
        model = keras.Sequential(layers)
        model.compile(
            optimizer=keras.optimizers.Adam(args.learning_rate),
            loss="mean_absolute_error",
            metrics=["mae"],
        )
        initial_epoch = 0

    stop = {"requested": False}

    def on_sigterm(signum: int, frame: object) -> None:
        print("SIGTERM: stopping after this batch, then checkpointing", flush=True)
        stop["requested"] = True

    signal.signal(signal.SIGTERM, on_sigterm)

    class Lifecycle(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if stop["requested"]:
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            log_metrics(epoch=epoch + 1, **{k: float(v) for k, v in (logs or {}).items()})
            # Keep the newest checkpoints only (SageMaker mirrors deletions to S3).
            for old in sorted(checkpoints.glob("epoch-*.keras"))[:-KEEP_CHECKPOINTS]:
                old.unlink(missing_ok=True)

    history = model.fit(
        x_train,
        y_train,
        epochs=args.epochs,
        initial_epoch=initial_epoch,
        batch_size=args.batch_size,
        validation_split=args.validation_split,
        verbose=0,
        callbacks=[
            keras.callbacks.ModelCheckpoint(str(checkpoints / "epoch-{epoch:04d}.keras")),
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=args.patience, restore_best_weights=True
            ),
            Lifecycle(),
        ],
    )
    test_mae = float(model.evaluate(x_test, y_test, verbose=0)[1])
    log_metrics(test_mae=test_mae)

    model_dir = Path(args.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save(model_dir / MODEL_FILE)
    lite_bytes = export(model, model_dir / LITE_FILE)
    difference = max_difference(model, model_dir / LITE_FILE, x_test)
    log_metrics(litert_max_abs_diff=difference)
    if difference > args.litert_tolerance:
        (model_dir / LITE_FILE).unlink()
        raise ExportMismatch(
            f"the LiteRT export predicts the {len(y_test)} test rows up to {difference:.3g} mpg "
            f"away from the Keras model (allowed: {args.litert_tolerance:g}, "
            "hyperparameter litert-tolerance); model.tflite was not kept"
        )
    meta = metadata(
        fill,
        version=VERSION,
        tensorflow=tf.__version__,
        epochs_run=initial_epoch + len(history.epoch),
        stopped_early=bool(stop["requested"]),
        test_mae=test_mae,
        litert_max_abs_diff=difference,
        litert_bytes=lite_bytes,
        train_seconds=round(time.perf_counter() - started, 2),
        tf_import_seconds=round(import_seconds, 2),
        hyperparameters={k: v for k, v in vars(args).items() if k not in _PATH_ARGS},
    )
    (model_dir / "metadata.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(
        f"saved {model_dir / MODEL_FILE}: test MAE {test_mae:.3f} mpg; {LITE_FILE} "
        f"({lite_bytes} bytes) within {difference:.2g} mpg of it",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
