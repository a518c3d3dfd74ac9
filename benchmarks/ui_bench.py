"""How long the run browser takes to answer over 10,000 runs: the real server (`runnable ui`, a
subprocess on 127.0.0.1), timed from a client, for the first page, a filtered and metric-sorted
page, a late page, the JSON rows and the live-status poll.

Usage:  python benchmarks/ui_bench.py [--runs 10000] [--repeat 5]

The records are written straight through the file-system run-log store (as list_bench.py does, with
two metric histories of 20 points each). The first request after the server starts also builds the
listing index; it is reported on its own line. Prints one line per measurement.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from list_bench import make_records  # noqa: E402

from runnable.backends.runlog import FileSystemRunLogStore  # noqa: E402


def add_metrics(folder: Path) -> None:
    store = FileSystemRunLogStore(folder / ".run_log_store")
    for run_id in list(store.iter_ids()):
        record = store.get(run_id)
        i = int(run_id.split("-")[1])
        record.metrics = {"loss": [[s, 1 / (1 + s + i % 13)] for s in range(20)],
                          "accuracy": [[s, 0.5 + s * 0.02 + (i % 11) / 100] for s in range(20)]}
        store.put(record)


def fetch(url: str) -> tuple[float, bytes]:
    begin = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        body = response.read()
    return time.perf_counter() - begin, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runnable-ui-bench-", dir=os.getcwd()) as tmp:
        folder = Path(tmp)
        begin = time.perf_counter()
        make_records(folder, options.runs)
        add_metrics(folder)
        print(f"wrote {options.runs:,} records in {time.perf_counter() - begin:.1f} s")
        server = subprocess.Popen([sys.executable, "-m", "runnable", "ui", "--port", "0"], cwd=folder,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            match = re.search(r"(http://\S+)/", server.stdout.readline())
            if match is None:
                raise SystemExit("runnable ui did not start")
            base = match.group(1)
            while True:
                try:
                    fetch(base + "/static/style.css")
                    break
                except OSError:
                    time.sleep(0.05)
            first, body = fetch(base + "/")
            rows = body.count(b"<tr data-run=")
            print(f"first page, index built on the way   {first:6.3f} s  ({rows} rows of {options.runs:,})")
            ids = "&".join(f"id=run-{i:05d}" for i in range(50))
            for label, path in (("first page (50 rows)", "/"),
                                ("FAIL runs sorted by loss", "/?status=FAIL&sort=metric:loss"),
                                ("text filter 'nightly'", "/?q=nightly"),
                                ("page 150 (newest first)", "/?page=150"),
                                ("JSON rows /api/runs", "/api/runs"),
                                ("live poll of 50 runs", f"/api/status?{ids}")):
                times = [fetch(base + path)[0] for _ in range(options.repeat)]
                print(f"{label:<37}{statistics.median(times):6.3f} s  (median of {options.repeat}, "
                      f"max {max(times):.3f})")
        finally:
            server.terminate()
            server.communicate(timeout=10)


if __name__ == "__main__":
    main()
