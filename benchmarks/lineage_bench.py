"""Inputs, the content index and the hash cache, timed by wall clock against md5sum.

Usage:  python benchmarks/lineage_bench.py [--repeat 5] [--only which,input,small,second] [--gib 1]

* which:  `runnable runs which HASH` over 10,000 runs of 10 files each (records and index entries
  written straight through the file-system run-log store), in-process (History.which, the index
  snapshot warm) and as a fresh process; target < 100 ms.
* input:  a job with Catalog(get=["big.bin"]) on 1 GiB (RUNNABLE_REHASH=1: really read), minus the
  same job without get, against `md5sum big.bin`; target <= 1.1x.
* small:  the same with get=["small/"] over 10,000 files of 1 KiB, against
  `find small -type f -print0 | xargs -0 md5sum`; target <= 1.5x.
* second: a second run of a job with an unchanged 1 GiB input (get) and 1 GiB output (put), the
  hash cache on, minus the same job with neither; target <= 0.05 s.

Every contender runs warm (its files read into the page cache first). Prints one line per figure:
the median of the repeats and every run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

JOB = '''
import sys
from runnable import Catalog, ShellJob
get = [p for p in sys.argv[1].split(",") if p]
put = [p for p in sys.argv[2].split(",") if p] if len(sys.argv) > 2 else []
ShellJob(command="true", catalog=Catalog(get=get, put=put) if get or put else None).execute()
'''


def timed(fn: Callable[[], object]) -> float:
    begin = time.perf_counter()
    fn()
    return time.perf_counter() - begin


def sh(*cmd: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")


def warm(folder: Path, *names: str) -> None:
    sh("sh", "-c", "find " + " ".join(names) + " -type f -print0 | xargs -0 cat > /dev/null", cwd=folder)


def show(label: str, times: list[float], unit: str = "s") -> float:
    median = statistics.median(times)
    scale = 1000 if unit == "ms" else 1
    runs = ", ".join(f"{t * scale:.3f}" for t in times)
    print(f"{label}: median {median * scale:.3f} {unit}  (runs: {runs})", flush=True)
    return median


def fake_digest(run: int, k: int) -> str:
    """A digest spread like real ones (prefixes unique), for a file that need not exist."""
    return hashlib.md5(f"{run}-{k}".encode()).hexdigest()


def bench_which(folder: Path, repeat: int) -> None:
    from runnable.backends.local.catalog import FileSystemStorage
    from runnable.backends.runlog import FileSystemRunLogStore
    from runnable.history.contentindex import ContentIndex
    from runnable.history.runs import History
    from runnable.record import FileEntry, RunRecord

    store = FileSystemRunLogStore(folder / ".run_log_store")
    index = ContentIndex(store)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    begin = time.perf_counter()
    for i in range(10_000):
        files = [FileEntry(f"out/part-{k}.csv", 1000 + k, {"md5": fake_digest(i, k)}, True,
                           f".catalog/run-{i:05d}/out/part-{k}.csv") for k in range(10)]
        record = RunRecord(run_id=f"run-{i:05d}", status="SUCCESS", job={"kind": "python", "name": "train"},
                           start=(start + timedelta(minutes=i)).isoformat(timespec="milliseconds"), files=files)
        store.put(record)
        index.add(record)
    print(f"which: wrote 10,000 records and index entries in {time.perf_counter() - begin:.1f} s", flush=True)
    history = History(FileSystemStorage(folder / ".catalog"), store)
    target = fake_digest(4321, 7)
    show("which: first query (builds the snapshot)", [timed(lambda: history.which(target))], "ms")
    show("which: in-process, full hash", [timed(lambda: history.which(target)) for _ in range(repeat)], "ms")
    show("which: in-process, 10-char prefix", [timed(lambda: history.which(target[:10])) for _ in range(repeat)], "ms")
    show("which: `runnable runs which HASH`, a fresh process",
         [timed(lambda: sh(sys.executable, "-m", "runnable", "runs", "which", target, cwd=folder))
          for _ in range(repeat)], "ms")
    show("which: `python -c pass`, a fresh process (the floor)",
         [timed(lambda: sh(sys.executable, "-c", "pass", cwd=folder)) for _ in range(repeat)], "ms")


def job(folder: Path, get: str, put: str = "", rehash: bool = True) -> Callable[[], None]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    env["RUNNABLE_CACHE_DIR"] = str(folder / "cache")
    if rehash:
        env["RUNNABLE_REHASH"] = "1"
    return lambda: sh(sys.executable, str(folder / "job.py"), get, put, cwd=folder, env=env)


def paired(label: str, folder: Path, repeat: int, ours: Callable[[], None], base: Callable[[], None],
           floor: Callable[[], None], names: tuple[str, ...], target: float) -> None:
    extra, floors, bases, ourses = [], [], [], []
    for _ in range(repeat):
        warm(folder, *names)
        t_base = timed(base)
        warm(folder, *names)
        t_ours = timed(ours)
        warm(folder, *names)
        floors.append(timed(floor))
        extra.append(t_ours - t_base)
        bases.append(t_base)
        ourses.append(t_ours)
    e, f = show(f"{label}: job with get minus job without", extra), show(f"{label}: md5sum", floors)
    ratios = [a / b for a, b in zip(extra, floors, strict=True)]
    # The minimum of each: what each costs when nothing else on the machine got in its way (the
    # noise here is only ever added time, +-0.1 s on a 0.3 s job with five other sessions running).
    least = (min(ourses) - min(bases)) / min(floors)
    print(f"{label}: ratio of medians {e / f:.2f}x, paired median {statistics.median(ratios):.2f}x, "
          f"of minimums {least:.2f}x (fastest job with get - fastest without, over fastest md5sum; "
          f"target <= {target}x)", flush=True)


def bench_input(folder: Path, repeat: int, gib: float) -> None:
    size = int(gib * (1 << 30))
    with open(folder / "big.bin", "wb") as out:
        block = os.urandom(1 << 20)
        for _ in range(size >> 20):
            out.write(block)
    paired("input", folder, repeat, job(folder, "big.bin"), job(folder, ""),
           lambda: sh("md5sum", "big.bin", cwd=folder), ("big.bin",), 1.1)


def bench_small(folder: Path, repeat: int) -> None:
    small = folder / "small"
    small.mkdir()
    for i in range(10_000):
        (small / f"f{i:05d}.txt").write_bytes(os.urandom(512).hex().encode())
    paired("small", folder, repeat, job(folder, "small/"), job(folder, ""),
           lambda: sh("sh", "-c", "find small -type f -print0 | xargs -0 md5sum > /dev/null", cwd=folder),
           ("small",), 1.5)
    small_parts(folder, repeat)


def small_parts(folder: Path, repeat: int) -> None:
    """What `get` on the 10,000 files costs, part by part, in this process (warm, the index holding
    the runs above): the floor a job cannot go under, against md5sum's whole time."""
    from runnable.backends.runlog import FileSystemRunLogStore
    from runnable.files.hashcache import HashCache
    from runnable.files.patterns import expand
    from runnable.history.contentindex import ContentIndex, key_of
    from runnable.record import InputEntry, RunRecord
    from runnable.run.inputs import collect

    parts: dict[str, list[float]] = {}

    def part(name: str, fn: Callable[[], object]) -> object:
        begin = time.perf_counter()
        out = fn()
        parts.setdefault(name, []).append(time.perf_counter() - begin)
        return out

    store = FileSystemRunLogStore(folder / ".run_log_store")
    scratch = FileSystemRunLogStore(folder / "scratch-store")
    cache = HashCache(None, enabled=False)
    def once(n: int) -> None:
        warm(folder, "small")
        part("md5sum (find | xargs md5sum)",
             lambda: sh("sh", "-c", "find small -type f -print0 | xargs -0 md5sum > /dev/null", cwd=folder))
        selection: Any = part("select (walk, lstat, safety rules)", lambda: expand(["small/"], folder))
        digests: Any = part("hash (open, read, md5)",
                            lambda: [cache.hash(m.path, "md5") for m in selection.files])
        index = ContentIndex(store)
        part("look up sources (load the index + 10,000 lookups)",
             lambda: [index.holders(key_of("md5", d)) for d, _ in digests])
        part("collect() whole (select + hash + look up + entries)",
             lambda: collect(["small/"], folder, "md5", ContentIndex(store), cache=cache))
        inputs = [InputEntry(m.rel, size, {"md5": d}, None)
                  for m, (d, size) in zip(selection.files, digests, strict=True)]
        record = RunRecord(f"parts-{n:04d}", "SUCCESS", {"name": "parts"}, "2026-01-01T00:00:00", inputs=inputs)
        part("write the record (10,000 inputs, atomic)", lambda: scratch.put(record))
        part("write the index entry", lambda: ContentIndex(scratch).add(record))

    for n in range(repeat):
        once(n)
    for name, times in parts.items():
        show(f"small part: {name}", times)


def bench_second(folder: Path, repeat: int, gib: float) -> None:
    size = int(gib * (1 << 30))
    for name in ("in.bin", "out.bin"):
        with open(folder / name, "wb") as out:
            block = os.urandom(1 << 20)
            for _ in range(size >> 20):
                out.write(block)
    ours, base = job(folder, "in.bin", "out.bin", rehash=False), job(folder, "")
    ours()  # the first run reads both and stores the output
    time.sleep(2.5)  # both files settle (runnable.files.hashcache.SETTLE_NS)
    ours()  # remembered now (the first run's files were too recent)
    extra = []
    for _ in range(repeat):
        t_base, t_ours = timed(base), timed(ours)
        extra.append(t_ours - t_base)
    e = show("second: unchanged 1 GiB input + output, minus a job with neither", extra)
    print(f"second: adds {e:.3f} s (target <= 0.05 s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="which,input,small,second")
    parser.add_argument("--gib", type=float, default=1.0)
    options = parser.parse_args()
    chosen = set(options.only.split(","))
    import runnable

    # Byte-compiled first, as `pip install` leaves it: with PYTHONDONTWRITEBYTECODE set (as on this
    # machine), every job would otherwise compile the modules it imports, and the job with get
    # imports a few more than the one without: ~0.1 s of the difference was compiling them.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(runnable.__file__).parent)], check=True)
    for name in ("which", "input", "small", "second"):
        if name not in chosen:
            continue
        with tempfile.TemporaryDirectory(prefix=f"runnable-lineage-{name}-", dir=os.getcwd()) as tmp:
            folder = Path(tmp)
            (folder / "job.py").write_text(JOB)
            if name == "which":
                bench_which(folder, options.repeat)
            elif name == "input":
                bench_input(folder, options.repeat, options.gib)
            elif name == "small":
                bench_small(folder, options.repeat)
            else:
                bench_second(folder, options.repeat, options.gib)


if __name__ == "__main__":
    main()
