"""Benchmark the S3 catalog: a large put and restore through runnable vs boto3's managed transfers.

    python benchmarks/s3_bench.py                      # 1 GiB, one repeat
    python benchmarks/s3_bench.py --size-mib 2048      # the 2 GiB memory check
    python benchmarks/s3_bench.py --size-mib 64        # a quick smoke test

Starts its own ``moto_server`` on a free 127.0.0.1 port (the S3 server the tests use) and measures,
each in a fresh child process against a fresh bucket:

* ``runnable put``      ``S3Storage.store``: one read, hashing while streaming a multipart upload
                        to a blob, then a small alias at the content key (default pointer mode;
                        ``run_files: copy`` makes a server-side copy instead);
* ``boto3 upload_file`` the same file with boto3's default ``TransferConfig`` (8 MiB parts, 10
                        threads), no hashing;
* ``runnable restore``  ``runnable.history.restore.restore``: a streaming GET, hashed and checked while written;
* ``boto3 download_file`` the same object, no hashing.

Times cover the operation only (not interpreter start-up or imports). Peak memory is the child's
maximum resident set size; "baseline" is the resident size just before the operation (interpreter
plus imports), so peak minus baseline is what the transfer itself costs. The input file is read once
before the runs so that every contender starts with it in the page cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}


# -- children: one operation each, reporting seconds and memory as JSON ----------------------------
def child(op: str, endpoint: str, bucket: str, path: str, extra: str) -> dict[str, Any]:
    baseline_kib = 0

    def rss_now() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

    if op.startswith("boto3"):
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        baseline_kib = rss_now()
        start = time.perf_counter()
        if op == "boto3-upload":
            client.upload_file(path, bucket, "boto3/big.bin")
        else:
            client.download_file(bucket, "boto3/big.bin", path)
        seconds = time.perf_counter() - start
    else:
        from runnable.backends.s3.catalog import S3Storage
        from runnable.history.restore import restore
        from runnable.record import FileEntry, RunRecord

        options = json.loads(extra)
        digest, size = options.pop("digest", ""), options.pop("size", 0)
        storage = S3Storage(bucket, "catalog", endpoint_url=endpoint, **options)
        baseline_kib = rss_now()
        if op == "runnable-put":
            start = time.perf_counter()
            stored = storage.store("bench-run", "big.bin", Path(path), "md5")
            seconds = time.perf_counter() - start
            return {"seconds": seconds, "baseline_kib": baseline_kib, "digest": stored.digest, "size": stored.size,
                    "uploaded": storage.bytes_uploaded,
                    "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
        entry = FileEntry("big.bin", size, {"md5": digest}, True)
        record = RunRecord("bench-run", "SUCCESS", {}, "", files=[entry])
        start = time.perf_counter()
        report = restore(record, storage, [], Path(path))
        seconds = time.perf_counter() - start
        if report.written != ["big.bin"]:
            raise SystemExit(f"restore failed: {report}")
    return {"seconds": seconds, "baseline_kib": baseline_kib,
            "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def run_child(op: str, endpoint: str, bucket: str, path: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    env = {**os.environ, **CREDENTIALS}
    result = subprocess.run(
        [sys.executable, __file__, "--child", op, endpoint, bucket, str(path), json.dumps(extra or {})],
        env=env, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{op} failed:\n{result.stderr}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


# -- the parent: server, input file, table -------------------------------------------------------
def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    moto = Path(sys.executable).with_name("moto_server")
    command = [str(moto)] if moto.exists() else [sys.executable, "-m", "moto.server"]
    process = subprocess.Popen([*command, "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
            return process, endpoint
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("moto_server did not start")


def new_bucket(endpoint: str) -> str:
    import boto3

    name = f"bench-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                 aws_secret_access_key="bench-secret").create_bucket(Bucket=name)
    return name


def make_input(path: Path, size: int) -> None:
    rng = random.Random(2024)
    block = rng.randbytes(8 * MiB)  # repeated blocks: fast to write, and S3 never compresses
    with open(path, "wb") as handle:
        written = 0
        while written < size:
            n = min(len(block), size - written)
            handle.write(block[:n])
            written += n


def warm(path: Path) -> None:
    with open(path, "rb") as handle:
        while handle.read(8 * MiB):
            pass


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(*sys.argv[2:7])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--part-mib", type=int, default=8, help="runnable's part size")
    parser.add_argument("--concurrency", type=int, default=8, help="runnable's parts in flight per file")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="s3-bench-", dir=os.environ.get("BENCH_TMP")))
    process, endpoint = start_moto()
    try:
        source = scratch / "big.bin"
        make_input(source, args.size_mib * MiB)
        options = {"part_size": args.part_mib * MiB, "max_concurrency": args.concurrency}
        rows: dict[str, list[dict[str, Any]]] = {k: [] for k in ("runnable put", "boto3 upload_file",
                                                                   "runnable restore", "boto3 download_file")}
        for _ in range(args.repeats):
            warm(source)
            bucket = new_bucket(endpoint)
            put = run_child("runnable-put", endpoint, bucket, source, options)
            rows["runnable put"].append(put)
            warm(source)
            rows["boto3 upload_file"].append(run_child("boto3-upload", endpoint, bucket, source))
            out = scratch / "restored"
            shutil.rmtree(out, ignore_errors=True)
            rows["runnable restore"].append(run_child("runnable-restore", endpoint, bucket, out,
                                                      {**options, "digest": put["digest"], "size": put["size"]}))
            shutil.rmtree(out, ignore_errors=True)
            rows["boto3 download_file"].append(run_child("boto3-download", endpoint, bucket, scratch / "dl.bin"))
            (scratch / "dl.bin").unlink()
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(scratch, ignore_errors=True)

    size = args.size_mib * MiB
    print(f"S3 transfer of {args.size_mib} MiB against moto_server on 127.0.0.1 "
          f"(runnable: {args.part_mib} MiB parts x {args.concurrency} in flight; median of {args.repeats})")
    print(f"{'operation':<22}{'seconds':>9}{'MiB/s':>8}{'vs boto3':>10}{'peak RSS MiB':>14}{'baseline MiB':>14}")
    pairs = {"runnable put": "boto3 upload_file", "runnable restore": "boto3 download_file"}
    for name, samples in rows.items():
        seconds = statistics.median(s["seconds"] for s in samples)
        peak = max(s["peak_kib"] for s in samples) / 1024
        base = statistics.median(s["baseline_kib"] for s in samples) / 1024
        ratio = ""
        if name in pairs:
            ratio = f"{seconds / statistics.median(s['seconds'] for s in rows[pairs[name]]):.2f}x"
        print(f"{name:<22}{seconds:>9.2f}{size / MiB / seconds:>8.1f}{ratio:>10}{peak:>14.0f}{base:>14.0f}")
    uploaded = rows["runnable put"][0]["uploaded"]
    print(f"runnable put uploaded {uploaded / MiB:.0f} MiB for a {args.size_mib} MiB file (one read, one upload)")


if __name__ == "__main__":
    main()
