"""How long comparing 10,000 runs takes: `runnable runs compare --job train` (a fresh process each
time) and runnable.compare(), on the file-system run-log store.

Usage:  python benchmarks/compare_bench.py [--runs 10000] [--repeat 5]

Writes the records straight through the run-log store (no jobs run), each with three files, three
parameters, two metric histories of 20 steps and a return, in a temporary folder; half the runs are
of the job ``train``. Prints one line per measurement.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from list_bench import time_cli  # a fresh `runnable` process, timed (benchmarks/ is on sys.path)

from runnable.backends.runlog import FileSystemRunLogStore
from runnable.record import FileEntry, RunRecord


def make_records(folder: Path, count: int) -> None:
    store = FileSystemRunLogStore(folder / ".run_log_store")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(count):
        begun = start + timedelta(minutes=i)
        files = [FileEntry(f"out/part-{k}.csv", 1000 + k, {"md5": f"{i:016x}{k:016x}"}, True,
                           f".catalog/run-{i:05d}/out/part-{k}.csv") for k in range(3)]
        accuracy = 0.5 + (i % 97) / 200
        store.put(RunRecord(
            run_id=f"run-{i:05d}", status="FAIL" if i % 10 == 0 else "SUCCESS",
            job={"kind": "python", "name": "train" if i % 2 else "evaluate"},
            start=begun.isoformat(timespec="milliseconds"),
            end=(begun + timedelta(seconds=42)).isoformat(timespec="milliseconds"), duration_seconds=42.0,
            parameters={"lr": 0.001 * (i % 7), "epochs": i % 50, "dataset": "s3://bucket/data.parquet"},
            returns={"optimizer": "adam"}, environment={"host": "bench", "pid": 1000 + i, "python": "3.11"},
            metrics={"accuracy": [[s, accuracy * s / 19] for s in range(20)],
                     "loss": [[s, 1 - accuracy * s / 19] for s in range(20)]},
            files=files,
        ))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    import runnable

    # Byte-compiled first, as `pip install` leaves it: with PYTHONDONTWRITEBYTECODE set (as here),
    # every fresh process would otherwise compile the package again (~0.1 s).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(runnable.__file__).parent)], check=True)
    with tempfile.TemporaryDirectory(prefix="runnable-compare-bench-", dir=os.getcwd()) as tmp:
        folder = Path(tmp)
        begin = time.perf_counter()
        make_records(folder, options.runs)
        print(f"wrote {options.runs} records in {time.perf_counter() - begin:.1f} s")
        startup = [time_cli(folder, "--version") for _ in range(options.repeat)]
        print(f"`runnable --version` (interpreter + CLI start, for reference): median {statistics.median(startup):.3f} s")
        first = time_cli(folder, "runs", "compare", "--job", "train")
        print(f"`runs compare --job train`, no index yet (reads {options.runs} records, writes the index): {first:.3f} s")
        cases = [
            ("runs", "compare", "--job", "train"),
            ("runs", "compare", "--job", "train", "--sort", "-metrics.accuracy"),
            ("runs", "compare", "--job", "train", "--where", "metrics.accuracy > 0.9 and params.lr == 0.003"),
            ("runs", "compare", "--job", "train", "--json"),
        ]
        for case in cases:
            times = [time_cli(folder, *case) for _ in range(options.repeat)]
            print(f"`runnable {' '.join(case)}`, index present: median {statistics.median(times):.3f} s, "
                  f"max {max(times):.3f} s")
        os.chdir(folder)
        api = []
        for _ in range(options.repeat):
            begin = time.perf_counter()
            rows = runnable.compare(job="train", sort="-metrics.accuracy").rows
            api.append(time.perf_counter() - begin)
        print(f"runnable.compare(job='train', sort='-metrics.accuracy') in this process ({len(rows)} rows): "
              f"median {statistics.median(api):.3f} s")


if __name__ == "__main__":
    main()
