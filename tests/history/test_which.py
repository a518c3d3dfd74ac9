"""``runnable runs which`` and ``runnable.which``: which runs stored a file's content, by hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import runnable
from runnable.errors import UsageError
from runnable.files.hashing import hash_file
from tests.conftest import run_cli
from tests.lineage_helpers import run_chain, run_step


@pytest.fixture
def chain(workdir: Path) -> tuple[Path, tuple[str, str, str]]:
    return workdir, run_chain(workdir)


def test_which_names_the_run_that_stored_a_local_file(chain: tuple[Path, tuple[str, str, str]]) -> None:
    folder, (prepare, train, _evaluate) = chain
    proc = run_cli(folder, "runs", "which", "model.txt")
    assert proc.returncode == 0, proc.stderr
    digest = hash_file(folder / "model.txt")[0]
    assert f"md5:{digest} was stored by 1 run(s)" in proc.stdout
    assert train in proc.stdout and "model.txt" in proc.stdout and "SUCCESS" in proc.stdout
    # JSON, and the same answer from Python and from a copy under another name
    (folder / "copy.bin").write_bytes((folder / "data/features.csv").read_bytes())
    proc = run_cli(folder, "runs", "which", "copy.bin", "--json")
    data = json.loads(proc.stdout)
    assert [(r["run_id"], r["path"], r["job"]) for r in data["runs"]] == [(prepare, "data/features.csv", "prepare")]
    assert [h.run_id for h in runnable.which("copy.bin").holders] == [prepare]


def test_which_by_full_hash_and_by_prefix_lists_every_holder_oldest_first(chain: tuple[Path, tuple[str, str, str]]) -> None:
    folder, (prepare, _train, _evaluate) = chain
    again = run_step(folder, "prepare")
    digest = hash_file(folder / "data/features.csv")[0]
    for query in (digest, digest[:8], f"md5:{digest}", digest.upper()[:12]):
        proc = run_cli(folder, "runs", "which", query, "--json")
        assert proc.returncode == 0, (query, proc.stderr)
        assert [r["run_id"] for r in json.loads(proc.stdout)["runs"]] == [prepare, again], query


def test_which_exits_1_when_no_run_stored_it(chain: tuple[Path, tuple[str, str, str]]) -> None:
    folder, _ = chain
    (folder / "new.txt").write_text("never stored\n")
    proc = run_cli(folder, "runs", "which", "new.txt")
    assert proc.returncode == 1
    assert "no run stored the content of 'new.txt'" in proc.stdout
    assert run_cli(folder, "runs", "which", "0123456789abcdef").returncode == 1


def test_hostile_queries_get_one_line_each(chain: tuple[Path, tuple[str, str, str]]) -> None:
    folder, _ = chain
    for query, words in (("abc", "neither a file nor a hash"), ("not-a-hash-at-all", "neither a file nor a hash"),
                         ("data", "not a regular file")):
        proc = run_cli(folder, "runs", "which", query)
        assert proc.returncode == 2, (query, proc.stdout, proc.stderr)
        assert words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr


def test_an_ambiguous_prefix_is_one_line(workdir: Path) -> None:
    """Two contents whose md5 share 8 leading hex characters take ~2^16 tries to find; two records
    naming such hashes (hash only: nothing stored) are written instead."""
    store = workdir / ".run_log_store"
    store.mkdir()
    for n, digest in enumerate(["abcdef01" + "1" * 24, "abcdef01" + "2" * 24]):
        record = {"run_id": f"run-{n}", "status": "SUCCESS", "job": {"name": "j"}, "start": f"2026-01-0{n + 1}",
                  "files": [{"path": "f.txt", "size": 1, "hash": {"md5": digest}, "stored": False}], "schema": 2}
        (store / f"run-{n}.json").write_text(json.dumps(record))
    proc = run_cli(workdir, "runs", "which", "abcdef01")
    assert proc.returncode == 2
    assert "hash prefix 'abcdef01' matches 2 contents" in proc.stderr and "give more characters" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    with pytest.raises(UsageError, match="matches 2 contents"):
        runnable.which("abcdef01")
    assert [h.run_id for h in runnable.which("abcdef011").holders] == ["run-0"]


def test_paths_with_tabs_and_newlines_and_many_runs_are_found(workdir: Path) -> None:
    """Enough runs that the index writes its sorted snapshot, one of them with a file name holding a
    tab and a newline (a snapshot line per file must not be split by it)."""
    from runnable.backends.runlog import FileSystemRunLogStore
    from runnable.history.contentindex import ContentIndex
    from runnable.record import FileEntry, RunRecord

    store = FileSystemRunLogStore(workdir / ".run_log_store")
    index = ContentIndex(store)
    for n in range(100):
        digest = f"{n:032x}"
        path = "odd\tname\nhere.txt" if n == 42 else f"f{n}.txt"
        record = RunRecord(f"run-{n:03d}", "SUCCESS", {"name": "j"}, f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}",
                           files=[FileEntry(path, n, {"md5": digest}, False)])
        store.put(record)
        index.add(record)
    assert ContentIndex(store).holders(f"md5:{42:032x}")[0].path == "odd\tname\nhere.txt"
    assert (workdir / ".run_log_store/.content/.merged.json").exists()
    data = json.loads(run_cli(workdir, "runs", "which", f"{42:032x}", "--json").stdout)
    assert [(r["run_id"], r["path"]) for r in data["runs"]] == [("run-042", "odd\tname\nhere.txt")]
    assert run_cli(workdir, "runs", "which", f"{7:032x}"[:-1] + "8", "--json").returncode == 0
    assert run_cli(workdir, "runs", "which", f"{100:032x}").returncode == 1


def test_index_lines_keep_any_file_name_intact() -> None:
    """Every name a file can have survives a snapshot line: quotes, backslashes, control
    characters and bytes that are not UTF-8 (carried as lone surrogates)."""
    from runnable.history.contentindex import _quote, _Row

    for path in ["a/b.csv", "tab\there", "new\nline", 'q"uote', "back\\slash", "\udcff.bin", "é ü", "\x01x"]:
        line = f"md5:{'0' * 32}\tF\trun-1\t3\t1\t{_quote(path)}".encode("utf-8", "backslashreplace")
        assert b"\n" not in line
        assert _Row.parse(line).path == path


def test_an_algorithm_prefix_is_kept(workdir: Path) -> None:
    """`sha256:<prefix>` names a sha256 content: an md5 content with the same digest prefix is not it."""
    store = workdir / ".run_log_store"
    store.mkdir()
    record = {"run_id": "run-md5", "status": "SUCCESS", "job": {"name": "j"}, "start": "2026-01-01",
              "files": [{"path": "f.txt", "size": 1, "hash": {"md5": "64adb4d1" + "0" * 24}, "stored": False}],
              "schema": 2}
    (store / "run-md5.json").write_text(json.dumps(record))
    assert runnable.which("sha256:64adb4d1").key is None
    assert [h.run_id for h in runnable.which("md5:64adb4d1").holders] == ["run-md5"]
    assert [h.run_id for h in runnable.which("64adb4d1").holders] == ["run-md5"]
    proc = run_cli(workdir, "runs", "which", "crc:64adb4d1")
    assert proc.returncode == 2 and "unknown hash algorithm 'crc'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
