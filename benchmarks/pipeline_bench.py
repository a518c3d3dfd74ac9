"""Pipeline overhead: 10 trivial Python tasks against the same 10 calls in a plain script, and a Map
over 100 items; each contender a fresh process, timed by wall clock, median of repeats.

    python benchmarks/pipeline_bench.py [--repeats 5]

Targets (issue 17): the 10 tasks cost at most 0.5 s more than the plain script; the Map over 100
items at most 3 s on 2 cores. Results go in benchmarks/RESULTS.md ("Pipelines").
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = """
def step(i):
    return i + 1
value = 0
for i in range(10):
    value = step(value)
print(value)
"""

TEN_TASKS = """
from runnable import Pipeline, PythonTask
def step(value: int = 0):
    return value + 1
Pipeline(steps=[PythonTask(name=f"t{i}", function=step, returns=["value"]) for i in range(10)]).execute()
"""

MAP_100 = """
from runnable import Map, Pipeline, PythonTask
def square(item: int):
    return item * item
branch = PythonTask(name="square", function=square, returns=["squared"]).as_pipeline()
Pipeline(steps=[Map(name="each", branch=branch, iterate_on="items", iterate_as="item",
                    reducer="lambda *x: sum(x)")]).execute()
"""


def timed(code: str, folder: Path, env: dict[str, str]) -> float:
    for leftover in (".catalog", ".run_log_store"):
        shutil.rmtree(folder / leftover, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"a contender failed:\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    env["RUNNABLE_PRM_items"] = str(list(range(100)))
    contenders = {"plain script, 10 calls": PLAIN, "pipeline, 10 tasks": TEN_TASKS, "pipeline, Map over 100": MAP_100}
    times: dict[str, list[float]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for name, code in contenders.items():  # alternate: a noisy moment hits every contender
                times[name].append(timed(code, Path(folder), env))
    print(f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}, median of {args.repeats}\n")
    print("| contender | median | runs |")
    print("|---|---|---|")
    for name, values in times.items():
        runs = ", ".join(f"{v:.3f}" for v in values)
        print(f"| {name} | {statistics.median(values):.3f} s | {runs} |")
    extra = statistics.median(times["pipeline, 10 tasks"]) - statistics.median(times["plain script, 10 calls"])
    print(f"\n10 tasks cost {extra:.3f} s more than the plain script (target <= 0.5 s)")
    print(f"Map over 100 items: {statistics.median(times['pipeline, Map over 100']):.3f} s (target <= 3 s)")


if __name__ == "__main__":
    main()
