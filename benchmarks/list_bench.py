"""How long listing 10,000 runs takes: `runnable runs list` (a fresh process each time) and runnable.runs().

Usage:  python benchmarks/list_bench.py [--runs 10000] [--repeat 5]

Writes the records straight through the file-system run-log store (no jobs run), each with three
files, parameters and tags like a real run, in a temporary folder. Prints one line per measurement.
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

from runnable.backends.runlog import FileSystemRunLogStore
from runnable.record import FileEntry, RunRecord


def make_records(folder: Path, count: int) -> None:
    store = FileSystemRunLogStore(folder / ".run_log_store")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(count):
        begun = start + timedelta(minutes=i)
        files = [FileEntry(f"out/part-{k}.csv", 1000 + k, {"md5": f"{i:016x}{k:016x}"}, k != 2,
                           f".catalog/run-{i:05d}/out/part-{k}.csv") for k in range(3)]
        store.put(RunRecord(
            run_id=f"run-{i:05d}", status="FAIL" if i % 10 == 0 else "SUCCESS",
            job={"kind": "python", "name": "train", "module": "train", "function": "train"},
            start=begun.isoformat(timespec="milliseconds"),
            end=(begun + timedelta(seconds=42)).isoformat(timespec="milliseconds"), duration_seconds=42.0,
            parameters={"lr": 0.001 * (i % 7), "epochs": i % 50, "dataset": "s3://bucket/data.parquet"},
            returns={"accuracy": 0.9}, environment={"host": "bench", "pid": 1000 + i, "python": "3.11"},
            files=files, tags=["nightly"] if i % 3 == 0 else [],
        ))


def time_cli(folder: Path, *args: str) -> float:
    begin = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "runnable", *args], cwd=folder, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.perf_counter() - begin
    if done.returncode != 0:
        raise SystemExit(f"runnable {' '.join(args)} failed: {done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runnable-list-bench-", dir=os.getcwd()) as tmp:
        folder = Path(tmp)
        begin = time.perf_counter()
        make_records(folder, options.runs)
        print(f"wrote {options.runs} records in {time.perf_counter() - begin:.1f} s")

        startup = [time_cli(folder, "--version") for _ in range(options.repeat)]
        print(f"`runnable --version` (interpreter + CLI start, for reference): median {statistics.median(startup):.3f} s")
        first = time_cli(folder, "runs", "list")
        print(f"`runnable runs list`, no index yet (reads {options.runs} records, writes the index): {first:.3f} s")
        warm = [time_cli(folder, "runs", "list") for _ in range(options.repeat)]
        print(f"`runnable runs list`, index present (fresh process): median {statistics.median(warm):.3f} s, "
              f"max {max(warm):.3f} s")
        limited = [time_cli(folder, "runs", "list", "--status", "FAIL", "--limit", "20") for _ in range(options.repeat)]
        print(f"`runnable runs list --status FAIL --limit 20`: median {statistics.median(limited):.3f} s")
        as_json = [time_cli(folder, "runs", "list", "--json") for _ in range(options.repeat)]
        print(f"`runnable runs list --json`: median {statistics.median(as_json):.3f} s")

        os.chdir(folder)
        import runnable

        api = []
        for _ in range(options.repeat):
            begin = time.perf_counter()
            found = runnable.runs()
            api.append(time.perf_counter() - begin)
        assert len(found) == options.runs and found[0].run_id == f"run-{options.runs - 1:05d}"
        print(f"runnable.runs() in a running process: median {statistics.median(api):.3f} s")
        os.chdir("/")


if __name__ == "__main__":
    main()
