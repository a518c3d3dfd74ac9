"""Dedup and integrity end to end: real jobs in real subprocesses, checked on disk."""

from __future__ import annotations

import json
from pathlib import Path

from tests.backends.test_storage_local import allocated
from tests.conftest import run_python

JOB = """\
import os, sys
from runnable import Catalog, PythonJob

def make():
    if not os.path.exists("model.bin"):
        with open("model.bin", "wb") as handle:
            handle.write(os.urandom(3 * 1024 * 1024 + 5))
    os.makedirs("small", exist_ok=True)
    for i in range(20):
        with open(f"small/{i}.txt", "w") as handle:
            handle.write(f"row {i}\\n")

config = sys.argv[1] if len(sys.argv) > 1 else None
PythonJob(function=make, catalog=Catalog(put=["model.bin", "small/"])).execute(
    configuration_file=config, job_id=os.environ["RUN"])
"""


def run(workdir: Path, run_id: str, *args: str) -> dict:  # type: ignore[type-arg]
    done = run_python(Path("job.py"), workdir, *args, env={"RUN": run_id})
    assert done.returncode == 0, done.stderr
    return json.loads((workdir / ".run_log_store" / f"{run_id}.json").read_text())  # type: ignore[no-any-return]


def test_second_run_of_an_unchanged_job_shares_storage_and_adds_almost_nothing(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    first = run(workdir, "first")
    catalog = workdir / ".catalog"
    before = allocated(catalog)
    second = run(workdir, "second")
    added = allocated(catalog) - before
    assert added < 256 * 1024, f"the second run added {added} bytes"  # folders and the new log only
    model_1, model_2 = catalog / "first" / "model.bin", catalog / "second" / "model.bin"
    assert model_1.stat().st_ino == model_2.stat().st_ino  # ext4 here: a hard link to one object
    assert model_2.read_bytes() == (workdir / "model.bin").read_bytes()
    hashes = {f["path"]: f["hash"] for f in first["files"]}
    assert hashes == {f["path"]: f["hash"] for f in second["files"]}
    assert len(hashes) == 21 and all(list(h) == ["md5"] for h in hashes.values())


def test_editing_outputs_after_a_run_never_changes_what_the_run_kept(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    record = run(workdir, "kept")
    original = (workdir / "model.bin").read_bytes()
    with open(workdir / "model.bin", "r+b") as handle:  # edit in place: the worst case for links
        handle.write(b"EDITED")
    (workdir / "small" / "0.txt").write_text("rewritten")
    stored = workdir / ".catalog" / "kept"
    assert (stored / "model.bin").read_bytes() == original
    assert (stored / "small" / "0.txt").read_text() == "row 0\n"
    entry = next(f for f in record["files"] if f["path"] == "model.bin")
    import hashlib

    assert hashlib.md5((stored / "model.bin").read_bytes()).hexdigest() == entry["hash"]["md5"]


def test_the_algorithm_comes_from_the_configuration_and_dedup_keeps_algorithms_apart(workdir: Path) -> None:
    (workdir / "job.py").write_text(JOB)
    (workdir / "blake3.yaml").write_text("catalog:\n  type: file-system\n  config:\n    hash_algorithm: blake3\n")
    md5_run = run(workdir, "with-md5")
    blake3_run = run(workdir, "with-blake3", "blake3.yaml")
    assert blake3_run["catalog"]["algorithm"] == "blake3"
    assert all(list(f["hash"]) == ["blake3"] for f in blake3_run["files"])
    objects = workdir / ".catalog" / ".objects"
    assert sorted(p.name for p in objects.iterdir() if p.name != "tmp") == ["blake3", "md5"]
    md5_model = next(f for f in md5_run["files"] if f["path"] == "model.bin")["hash"]["md5"]
    b3_model = next(f for f in blake3_run["files"] if f["path"] == "model.bin")["hash"]["blake3"]
    md5_object = objects / "md5" / md5_model[:2] / md5_model[2:]
    b3_object = objects / "blake3" / b3_model[:2] / b3_model[2:]
    assert md5_object.read_bytes() == b3_object.read_bytes()
    assert md5_object.stat().st_ino != b3_object.stat().st_ino  # the same bytes, kept per algorithm
    from blake3 import blake3

    assert blake3(b3_object.read_bytes()).hexdigest() == b3_model


def test_import_runnable_loads_no_optional_backend(workdir: Path) -> None:
    code = (
        "import sys, runnable\n"
        "heavy = ('blake3', 'obstore', 'papermill', 'kubernetes', 'pydantic', 'yaml', 'rich', 'boto3')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = run_python(code, workdir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
