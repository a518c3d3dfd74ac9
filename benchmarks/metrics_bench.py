"""What one ``runnable.log_metric`` call costs inside a running job, in a loop of 100,000 calls.

Usage:  python benchmarks/metrics_bench.py [--calls 100000] [--repeat 5]

Runs a real PythonJob (in a temporary folder) whose function times the loop itself; the figure is
the loop's wall time divided by the number of calls, including the flushes the background thread
and the calls themselves do (one append a second). Prints one line per repeat and the median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    import contextlib
    import io

    import runnable

    per_call: list[float] = []

    def loop() -> None:
        log_metric = runnable.log_metric
        begin = time.perf_counter()
        for i in range(options.calls):
            log_metric("loss", 1.0 / (i + 1))
        per_call.append((time.perf_counter() - begin) / options.calls)

    with tempfile.TemporaryDirectory(prefix="runnable-metrics-bench-") as tmp:
        os.chdir(tmp)
        for n in range(options.repeat):
            with contextlib.redirect_stdout(io.StringIO()):
                record = runnable.PythonJob(function=loop, name="bench").execute()
            assert record is not None and len(record.metrics["loss"]) == options.calls
            print(f"repeat {n + 1}: {per_call[-1] * 1e6:.2f} us a call ({options.calls} calls, all "
                  f"{len(record.metrics['loss'])} in the record)")
    print(f"median: {statistics.median(per_call) * 1e6:.2f} us a call")


if __name__ == "__main__":
    main()
