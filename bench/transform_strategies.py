"""SingleRecord vs MultiRecord through ``byoc local transform``, in one run.

The Auto MPG data set (local_test/test_dir/input/data/training/auto-mpg.csv, 398 cars)
without its header, label and name: the 7 feature columns in the example's order, one
file. Each job starts its own container, as SageMaker does; records/s counts from the
first invocation to the last answer (the start-up is printed apart).

    python bench/transform_strategies.py [IMAGE] [--model PATH] [--concurrency 1 2]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from byoc.example import FEATURES
from byoc.local_transform import JobOptions, run_job

REPO = Path(__file__).resolve().parent.parent


def features_file(target: Path) -> int:
    source = REPO / "local_test" / "test_dir" / "input" / "data" / "training" / "auto-mpg.csv"
    with source.open(newline="") as handle:
        rows = [",".join(row[name] for name in FEATURES) for row in csv.DictReader(handle)]
    target.write_text("".join(row + "\n" for row in rows))
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", default="byoc:latest")
    parser.add_argument("--model", type=Path, default=REPO / "local_test/test_dir/model")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="byoc-bench-transform-"))
    (work / "in").mkdir()
    count = features_file(work / "in" / "auto-mpg.csv")
    print(f"{count} records in one file, image {args.image}")
    rows = []
    for concurrency in args.concurrency:
        for strategy in ("SingleRecord", "MultiRecord"):
            options = JobOptions(
                accept="text/csv", batch_strategy=strategy, max_concurrent=concurrency
            )
            output = work / f"{strategy}-{concurrency}"
            outcome = run_job(args.image, args.model, work / "in", output, options, say=print)
            assert outcome.status == "Completed", outcome.failure_reason
            rate = outcome.records / outcome.seconds
            rows.append((strategy, concurrency, outcome.seconds, rate))
    print(f"{'strategy':<13} {'concurrency':>11} {'seconds':>8} {'records/s':>10}")
    for strategy, concurrency, seconds, rate in rows:
        print(f"{strategy:<13} {concurrency:>11} {seconds:>8.3f} {rate:>10.1f}")


if __name__ == "__main__":
    main()
