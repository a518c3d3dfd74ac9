"""Hand-edited run records: every command refuses them with a clear message and writes nowhere else.

One good run is made; its record is then copied under other run ids and edited the way an attacker
or a careless hand would. Each command is run on each record in a real subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.helpers import cli, md5_of, run_job, write_script

JOB = """\
from runnable import Catalog, PythonJob

def noop():
    print("hello from the job")

PythonJob(function=noop, catalog=Catalog(put=["data/"])).execute()
"""


def _files(record: dict[str, Any], **changes: Any) -> None:
    record["files"][0].update(changes)


# name -> (edit of the parsed record, or raw text; words the refusal must contain)
EDITS: dict[str, tuple[Callable[[dict[str, Any]], None] | str, str]] = {
    "escape-dotdot": (lambda r: _files(r, path="../../../../pwned.txt"), "leaves its folder"),
    "escape-inner": (lambda r: _files(r, path="data/../../../pwned.txt"), "leaves its folder"),
    "escape-absolute": (lambda r: _files(r, path=str(Path("/tmp") / "pwned.txt")), "is absolute"),
    "escape-home": (lambda r: _files(r, path="~/pwned.txt"), "is absolute"),
    "escape-log": (lambda r: r["execution_log"].update(path="../../pwned.log"), "leaves its folder"),
    "hash-path": (lambda r: _files(r, hash={"md5": "../../../../../../etc/passwd"}), "not a md5 digest"),
    "hash-algorithm": (lambda r: _files(r, hash={"../../etc": "0" * 32}), "not a ../../etc digest"),
    "unknown-field": (lambda r: r.update(surprise={"x": 1}), "unknown field(s) 'surprise'"),
    "unknown-file-field": (lambda r: _files(r, symlink_to="/etc/passwd"), "unknown field(s) 'symlink_to'"),
    "bad-status": (lambda r: r.update(status="DONE"), "status 'DONE' is not one of"),
    "run-id-mismatch": (lambda r: r.update(run_id="good"), "names run 'good'"),
    "run-id-escape": (lambda r: r.update(run_id="../good"), "run id '../good' is not valid"),
    "truncated": ("TRUNCATE", "is not valid JSON"),
    "not-an-object": ("[1, 2, 3]", "must be a JSON object"),
}

COMMANDS = [
    ("runs", "show"),
    ("logs",),
    ("catalog", "get"),
    ("catalog", "verify"),
    ("runs", "diff", "good"),
]


def _snapshot(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, float]]:
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        if any(Path(dirpath).is_relative_to(s) for s in skip):
            continue
        for name in names:
            path = Path(dirpath) / name
            st = path.lstat()
            out[str(path)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("hostile")
    work = base / "a" / "b" / "work"  # deep, so that '../../../..' lands inside base
    (work / "data").mkdir(parents=True)
    (work / "data" / "a.txt").write_text("hello")
    write_script(work, "job.py", JOB)
    done = run_job(work, work / "job.py", RUNNABLE_RUN_ID="good")
    assert done.returncode == 0, done.stderr
    store = work / ".run_log_store"
    text = (store / "good.json").read_text()
    for name, (edit, _words) in EDITS.items():
        if isinstance(edit, str):
            raw = text[: len(text) // 2] if edit == "TRUNCATE" else edit
        else:
            record = json.loads(text)
            record["run_id"] = name
            edit(record)
            raw = json.dumps(record, indent=2)
        (store / f"{name}.json").write_text(raw)
        shutil.copytree(work / ".catalog" / "good", work / ".catalog" / name, symlinks=True)
    return work


@pytest.mark.parametrize("name", sorted(EDITS))
def test_every_command_refuses_a_hand_edited_record(hostile: Path, name: str) -> None:
    work = hostile
    base = work.parents[2]
    words = EDITS[name][1]
    target = base / f"restore-{name}"
    before = _snapshot(base, skip=(target,))
    for command in COMMANDS:
        args = [*command, name]
        if command == ("catalog", "get"):
            args += ["--to", str(target)]
        done = cli(work, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.startswith("Error: "), (args, done.stderr)
        assert words in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    # Nothing was written anywhere: not beside the catalog, not where a hostile path points.
    after = _snapshot(base, skip=(target,))
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    changed = {p for p in changed if not Path(p).name.startswith(".index")}  # the listing cache
    assert changed == set()
    assert not target.exists() or list(target.rglob("*")) == []
    assert not list(base.rglob("pwned*"))


def test_listing_verifying_and_gc_keep_going_past_bad_records(hostile: Path) -> None:
    work = hostile
    listed = cli(work, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["run_id"]: row["status"] for row in json.loads(listed.stdout)}
    assert rows["good"] == "SUCCESS"
    for name in EDITS:
        if name != "run-id-escape":
            assert rows.get(name) == "UNREADABLE", (name, rows.get(name))
    verified = cli(work, "catalog", "verify", "--all")
    assert verified.returncode != 0  # the bad records are reported, not skipped silently
    assert "good" in verified.stdout
    good_object = md5_of(work / ".catalog" / "good" / "data" / "a.txt")
    swept = cli(work, "gc", "--yes")
    assert swept.returncode == 0, swept.stderr
    # Content a bad record may refer to is kept: gc never deletes what it cannot account for.
    assert "cannot be read" in swept.stdout + swept.stderr
    assert (work / ".catalog" / ".objects" / "md5" / good_object[:2] / good_object[2:]).is_file()


def test_wrong_hash_is_reported_and_nothing_is_restored(hostile: Path, tmp_path: Path) -> None:
    work = hostile
    store = work / ".run_log_store"
    record = json.loads((store / "good.json").read_text())
    record["run_id"] = "wrong-hash"
    record["files"][0]["hash"] = {"md5": "0" * 32}
    (store / "wrong-hash.json").write_text(json.dumps(record))
    shutil.copytree(work / ".catalog" / "good", work / ".catalog" / "wrong-hash", symlinks=True)

    verified = cli(work, "catalog", "verify", "wrong-hash")
    assert verified.returncode == 1
    assert "CORRUPT" in verified.stdout and "data/a.txt" in verified.stdout
    target = tmp_path / "restored"
    got = cli(work, "catalog", "get", "wrong-hash", "--to", str(target))
    assert got.returncode == 1
    assert "CORRUPT" in got.stdout + got.stderr
    assert not (target / "data" / "a.txt").exists()  # bytes that do not match are never left behind
    assert [p for p in target.rglob("*") if p.is_file()] == []
