"""A damaged or hand-edited content index (``.run_log_store/.content``) is never trusted: a bad line
or entry is skipped (the record is read instead), no command shows a traceback, and later runs work."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_python

PIPELINE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from runnable import Catalog, PythonJob

    def prepare():
        Path("data.csv").write_text("x,y\\n1,2\\n")

    def train():
        Path("model.json").write_text(Path("data.csv").read_text().upper())

    JOBS = {"prepare": PythonJob(function=prepare, catalog=Catalog(put=["data.csv"])),
            "train": PythonJob(function=train, catalog=Catalog(get=["data.csv"], put=["model.json"]))}
    JOBS[sys.argv[1]].execute(job_id=sys.argv[2])
""")


def _pipeline(workdir: Path, *steps: tuple[str, str]) -> None:
    (workdir / "pipeline.py").write_text(PIPELINE)
    for job, run_id in steps:
        done = run_python(Path("pipeline.py"), workdir, job, run_id)
        assert done.returncode == 0, done.stderr


def _content(workdir: Path) -> Path:
    return workdir / ".run_log_store" / ".content"


def _entry(workdir: Path, run_id: str) -> dict:
    return json.loads((_content(workdir) / f"{run_id}.json").read_text())


def _check_answers(workdir: Path, next_run: str) -> None:
    """`runs which` answers in one piece and a later run that reads the content still works."""
    which = run_cli(workdir, "runs", "which", "data.csv")
    assert which.returncode == 0, which.stderr
    assert "Traceback" not in which.stderr and "prep" in which.stdout
    done = run_python(Path("pipeline.py"), workdir, "train", next_run)
    assert done.returncode == 0, done.stderr
    record = json.loads((workdir / ".run_log_store" / f"{next_run}.json").read_text())
    assert record["status"] == "SUCCESS" and record["inputs"][0]["source"]["run_id"] == "prep"


def test_a_damaged_snapshot_line_is_skipped(workdir: Path) -> None:
    _pipeline(workdir, ("prepare", "prep"), ("train", "t1"))
    merged = _content(workdir) / ".merged.json"
    if not merged.exists():  # few runs: force one, as many runs would
        from runnable.backends.runlog import FileSystemRunLogStore
        from runnable.history.contentindex import ContentIndex
        ContentIndex(FileSystemRunLogStore(workdir / ".run_log_store")).rebuild()
    head, *lines = merged.read_text().splitlines()
    bad = ["\t".join([*line.split("\t")[:3], "BAD", *line.split("\t")[4:]]) for line in lines]
    extra = ["md5:zz\tF\tprep\t1\t1\t\"x\"", "md5:00\tF\tbad\trun\t1\t1\t\"x\"", "md5:00\tF\tprep\t-1\t1\t\"../x\"",
             "garbage"]
    merged.write_text("\n".join([head, *sorted(bad + lines + extra)]) + "\n")
    _check_answers(workdir, "t2")


@pytest.mark.parametrize("edit", ["infinity", "key-newline", "run-tab", "negative", "path-out", "not-a-list"])
def test_a_hand_edited_entry_is_skipped(workdir: Path, edit: str) -> None:
    _pipeline(workdir, ("prepare", "prep"), ("train", "t1"))
    path = _content(workdir) / "prep.json"
    entry = _entry(workdir, "prep")
    key, rel, size, stored = entry["files"][0]
    forged = {"infinity": [key, rel, float("inf"), stored], "key-newline": ["md5:00\nmd5:zz\tQ", rel, size, stored],
              "run-tab": [key, rel, size, stored], "negative": [key, rel, -5, stored],
              "path-out": [key, "../../etc/passwd", size, stored], "not-a-list": 7}[edit]
    entry["files"].append(forged)
    if edit == "run-tab":
        entry["run_id"] = "prep\tx"
    path.write_text(json.dumps(entry))  # inf is written as Infinity
    (_content(workdir) / ".merged.json").unlink(missing_ok=True)
    _check_answers(workdir, "t2")
    # the snapshot written on the way holds no forged line, and every later reader is unblocked
    _check_answers(workdir, "t3")


def test_an_entry_file_whose_name_is_not_a_run_id_is_ignored(workdir: Path) -> None:
    _pipeline(workdir, ("prepare", "prep"))
    (_content(workdir) / "odd\tname.json").write_text(json.dumps(_entry(workdir, "prep")))
    os.symlink("prep.json", _content(workdir) / "linked.json")
    _check_answers(workdir, "t2")


@pytest.mark.parametrize("name", ["prep.json", ".merged.json"])
@pytest.mark.parametrize("kind", ["fifo", "folder", "link"])
def test_a_fifo_folder_or_link_in_the_index_is_not_read(workdir: Path, name: str, kind: str) -> None:
    _pipeline(workdir, ("prepare", "prep"), ("train", "t1"))
    target = _content(workdir) / name
    target.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    else:
        forged = workdir / "forged.json"
        forged.write_text('{"version":3,"runs":["prep"]}\nmd5:' + "0" * 32 + '\tF\tprep\t1\t1\t"x"\n')
        target.symlink_to(forged)
    _check_answers(workdir, "t2")  # run_cli / run_python time out (fail) on a hang


def test_a_content_folder_that_is_a_link_is_neither_read_nor_written_through(workdir: Path, tmp_path: Path) -> None:
    _pipeline(workdir, ("prepare", "prep"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    content = _content(workdir)
    for path in content.iterdir():
        path.unlink()
    content.rmdir()
    content.symlink_to(elsewhere)
    _check_answers(workdir, "t2")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_fifo_or_folder_as_the_hash_cache_is_not_read(workdir: Path, tmp_path: Path, kind: str) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    if kind == "fifo":
        os.mkfifo(cache / "hashes.json")
    else:
        (cache / "hashes.json").mkdir()
    (workdir / "pipeline.py").write_text(PIPELINE)
    for job, run_id in [("prepare", "prep"), ("train", "t1")]:
        done = run_python(Path("pipeline.py"), workdir, job, run_id, env={"RUNNABLE_CACHE_DIR": str(cache)}, timeout=60)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_hashing_a_selected_input_never_waits_on_a_fifo_nor_follows_a_link(tmp_path: Path, kind: str) -> None:
    """An input swapped for a FIFO or a link after selection: refused at once, as storing refuses it."""
    from runnable.files.hashcache import HashCache
    from runnable.files.hashing import SourceChangedError

    (tmp_path / "secret.txt").write_text("outside")
    path = tmp_path / "data.csv"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(tmp_path / "secret.txt")
    for cache in (HashCache(tmp_path / "hashes.json"), HashCache(None, enabled=False)):
        with pytest.raises(SourceChangedError):
            cache.hash(path, "md5")
