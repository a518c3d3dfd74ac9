"""The examples in ``examples/11-jobs`` run unchanged, as scripts, in a fresh working folder."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import pickle
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, run_python

EXAMPLES = REPO / "examples" / "11-jobs"

# The two examples the spec prints; they must stay byte for byte as the spec shows them.
SPEC_CATALOG = '''from examples.common.functions import write_files
from runnable import Catalog, PythonJob


def main():
    write_catalog = Catalog(put=["df.csv", "data_folder/data.txt"]{extra})
    job = PythonJob(
        function=write_files,
        catalog=write_catalog,
    )

    job.execute()

    return job


if __name__ == "__main__":
    main()
'''


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def run_example(name: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``examples/11-jobs/{name}`` with ``cwd`` as working folder; return (summary, record)."""
    done = run_python(EXAMPLES / name, cwd, env={"PYTHONPATH": str(REPO), **(env or {})})
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout[done.stdout.index("{\n") :])
    record = json.loads((cwd / summary["run_record"]).read_text())
    return summary, record


def check_stored(cwd: Path, summary: dict[str, Any], record: dict[str, Any], expected: list[str]) -> None:
    """Every expected file is in the summary, the record and (with the same bytes) in the catalog."""
    run_folder = cwd / ".catalog" / record["run_id"]
    assert summary["Output catalog content"] == expected
    assert [f["path"] for f in record["files"]] == expected
    for entry in record["files"]:
        original = cwd / entry["path"]
        assert entry["hash"] == {"md5": md5(original)}
        assert entry["size"] == original.stat().st_size
        if entry["stored"]:
            assert (run_folder / entry["path"]).read_bytes() == original.read_bytes()
            assert entry["location"] == f".catalog/{record['run_id']}/{entry['path']}"


def check_png(path: Path) -> tuple[int, int]:
    """Parse a PNG fully (signature, chunk CRCs, pixel data size); return (width, height)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"bad CRC in {kind!r} of {path}"
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    assert pos == len(data) and b"IEND" in chunks
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2)
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (1 + 3 * width)
    return width, height


def check_pdf(path: Path) -> None:
    """A PDF whose cross-reference table points at the objects it lists."""
    data = path.read_bytes()
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    xref = int(re.search(rb"startxref\n(\d+)\n", data).group(1))  # type: ignore[union-attr]
    assert data[xref : xref + 4] == b"xref"
    offsets = [int(m.group(1)) for m in re.finditer(rb"(\d{10}) 00000 n ", data[xref:])]
    assert offsets
    for number, offset in enumerate(offsets, start=1):
        assert data[offset:].startswith(b"%d 0 obj" % number)


@pytest.mark.parametrize(("script", "extra"), [("catalog.py", ""), ("catalog_no_copy.py", ", store_copy=False")])
def test_spec_examples_are_unchanged(script: str, extra: str) -> None:
    assert (EXAMPLES / script).read_text() == SPEC_CATALOG.format(extra=extra)


def test_catalog_example_copies_files_and_log(tmp_path: Path) -> None:
    summary, record = run_example("catalog.py", tmp_path)
    assert summary["status"] == "SUCCESS" and record["status"] == "SUCCESS"
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d{4}", record["run_id"])
    check_stored(tmp_path, summary, record, ["df.csv", "data_folder/data.txt"])
    run_folder = tmp_path / ".catalog" / record["run_id"]
    assert (run_folder / "df.csv").read_text() == "a,b,c\n1,2,3\n4,5,6\n"
    assert (run_folder / "data_folder" / "data.txt").read_text() == "hello world\n"
    assert all(f["stored"] for f in record["files"])
    log = run_folder / "write_files.execution.log"
    assert log.read_text() == "wrote df.csv and data_folder/data.txt\n"
    assert record["execution_log"]["hash"] == {"md5": md5(log)}
    assert record["job"]["module"] == "examples.common.functions"
    assert record["job"]["function"] == "write_files"


def test_catalog_no_copy_example_records_hashes_only(tmp_path: Path) -> None:
    summary, record = run_example("catalog_no_copy.py", tmp_path)
    assert summary["status"] == "SUCCESS"
    check_stored(tmp_path, summary, record, ["df.csv", "data_folder/data.txt"])
    assert [(f["stored"], f["location"]) for f in record["files"]] == [(False, None), (False, None)]
    assert record["files"][0]["hash"]["md5"] == hashlib.md5(b"a,b,c\n1,2,3\n4,5,6\n").hexdigest()
    run_folder = tmp_path / ".catalog" / record["run_id"]
    stored = sorted(p.relative_to(run_folder).as_posix() for p in run_folder.rglob("*") if p.is_file())
    assert stored == ["write_files.execution.log"]  # the log is always kept, the data never
    assert record["catalog"]["store_copy"] is False


def test_data_analysis_example(tmp_path: Path) -> None:
    summary, record = run_example("data_analysis.py", tmp_path)
    plots = [f"plots/sales_trend_{r}.png" for r in ("east", "north", "south", "west")]
    check_stored(tmp_path, summary, record, ["sales_summary.csv", *plots, "insights.txt"])
    for plot in plots:
        assert check_png(tmp_path / ".catalog" / record["run_id"] / plot) == (160, 90)
    rows = read_csv(tmp_path / "sales_summary.csv")
    assert [r["region"] for r in rows] == ["north", "south", "east", "west"]
    total = sum(int(r["total"]) for r in rows)
    assert record["returns"]["summary"]["total_sales"] == total
    assert str(total) in (tmp_path / "insights.txt").read_text()


def test_model_training_example_takes_parameters(tmp_path: Path) -> None:
    summary, record = run_example("model_training.py", tmp_path, env={"RUNNABLE_PRM_epochs": "120"})
    check_stored(tmp_path, summary, record, ["trained_model.pkl", "training_history.csv", "model_metrics.json"])
    assert record["parameters"] == {"epochs": 120, "learning_rate": 0.1}  # given, and the default that ran
    model = pickle.loads((tmp_path / ".catalog" / record["run_id"] / "trained_model.pkl").read_bytes())
    assert model == record["returns"]["model"]
    assert abs(model["weight"] - 3) < 0.2 and abs(model["bias"] - 2) < 0.1
    history = read_csv(tmp_path / "training_history.csv")
    assert len(history) == 120 and float(history[-1]["loss"]) < float(history[0]["loss"])
    assert json.loads((tmp_path / "model_metrics.json").read_text())["epochs"] == 120


def test_report_generation_example(tmp_path: Path) -> None:
    summary, record = run_example("report_generation.py", tmp_path)
    expected = ["monthly_report.pdf", "charts/growth.png", "charts/sales.png", "data/summary.csv", "data/details.json"]
    check_stored(tmp_path, summary, record, expected)
    run_folder = tmp_path / ".catalog" / record["run_id"]
    check_pdf(run_folder / "monthly_report.pdf")
    check_png(run_folder / "charts" / "sales.png")
    check_png(run_folder / "charts" / "growth.png")
    assert record["returns"] == {"message": "Report completed"}


def test_large_data_processing_example_hashes_without_copying(tmp_path: Path) -> None:
    summary, record = run_example("large_data_processing.py", tmp_path, env={"RUNNABLE_PRM_megabytes": "3"})
    check_stored(tmp_path, summary, record, ["processed_data.parquet", "summary.csv"])
    big = tmp_path / "processed_data.parquet"
    assert big.stat().st_size == 3 * 1024 * 1024
    assert record["files"][0]["size"] == 3 * 1024 * 1024
    assert not any(f["stored"] for f in record["files"])
    # The job's own checksum of what it wrote agrees with the catalog's.
    row = read_csv(tmp_path / "summary.csv")[0]
    assert row["md5"] == record["files"][0]["hash"]["md5"]
    run_folder = tmp_path / ".catalog" / record["run_id"]
    assert sorted(os.listdir(run_folder)) == ["process_large_dataset.execution.log"]
    objects = [p for p in (tmp_path / ".catalog").rglob("*") if p.is_file() and p.stat().st_size > 1024 * 1024]
    assert objects == []  # the big file was not copied anywhere in the catalog
