"""``runnable status`` and the hash cache, through a real prepare -> train -> evaluate chain."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from runnable.files.hashcache import HashCache, encode, trusted
from tests.conftest import run_cli
from tests.lineage_helpers import run_chain, run_step


@pytest.fixture
def chain(workdir: Path) -> tuple[Path, tuple[str, str, str]]:
    return workdir, run_chain(workdir)


def test_everything_up_to_date_after_the_chain(chain: tuple[Path, tuple[str, str, str]]) -> None:
    folder, (prepare, train, evaluate) = chain
    proc = run_cli(folder, "status")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [f"evaluate: up to date (run {evaluate})",
                                        f"prepare: up to date (run {prepare})",
                                        f"train: up to date (run {train})"]


def test_a_hand_edit_outdates_the_readers_and_shows_as_a_changed_output(chain: tuple[Path, tuple[str, str, str]]) -> None:
    folder, (_prepare, train, evaluate) = chain
    (folder / "data/features.csv").write_text("x,y\n5,6\n")
    proc = run_cli(folder, "status")
    assert proc.returncode == 1
    out = proc.stdout
    assert "prepare: outdated" in out and "output changed by hand: data/features.csv" in out
    assert f"train: outdated (run {train})" in out and "input changed: data/features.csv" in out
    assert "evaluate: outdated" in out
    data = json.loads(run_cli(folder, "status", "train", "--json").stdout)
    assert data == [{"job": "train", "run_id": train, "start": data[0]["start"], "up_to_date": False,
                     "inputs": [{"path": "data/features.csv", "state": "changed"}], "outputs": []}]
    # train again: it is up to date, evaluate (which read the old model) is not
    run_step(folder, "train")
    assert "train: up to date" in run_cli(folder, "status", "train").stdout
    assert run_cli(folder, "status", "evaluate").returncode == 1
    assert evaluate


def test_vanished_and_new_inputs_and_missing_outputs(chain: tuple[Path, tuple[str, str, str]]) -> None:
    folder, _ = chain
    (folder / "model.txt").unlink()
    (folder / "data/extra.csv").write_text("z\n")
    out = run_cli(folder, "status", "evaluate").stdout
    assert "input vanished: model.txt" in out and "input new: data/extra.csv" in out
    assert "output missing" not in out
    assert "output missing: model.txt" in run_cli(folder, "status", "train").stdout


def test_an_unknown_job_is_one_line(chain: tuple[Path, tuple[str, str, str]]) -> None:
    folder, _ = chain
    proc = run_cli(folder, "status", "nojob")
    assert proc.returncode == 2 and "job 'nojob' has no successful run" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_the_hash_cache_answers_for_unchanged_files_and_never_for_changed_ones(tmp_path: Path) -> None:
    cache_path = tmp_path / "cache" / "hashes.json"
    data = tmp_path / "data.bin"
    data.write_bytes(b"a" * 1000)
    first = HashCache(cache_path)
    digest, size = first.hash(data, "md5")
    first.save()
    assert size == 1000 and first.hashed == 1
    assert not cache_path.exists()  # too recent to be settled: not remembered
    time.sleep(2.1)
    second = HashCache(cache_path)
    assert second.hash(data, "md5") == (digest, 1000) and second.hashed == 1
    second.save()
    third = HashCache(cache_path)
    assert third.hash(data, "md5") == (digest, 1000)
    assert (third.hits, third.hashed) == (1, 0)
    # Same size, modification time set back as it was: the change time still moved.
    info = data.stat()
    data.write_bytes(b"b" * 1000)
    os.utime(data, ns=(info.st_atime_ns, info.st_mtime_ns))
    fourth = HashCache(cache_path)
    assert fourth.hash(data, "md5")[0] != digest and fourth.hashed == 1
    # --rehash: the cache is not used at all
    off = HashCache(cache_path, enabled=False)
    off.hash(data, "md5")
    assert off.hashed == 1 and off.hits == 0


def test_times_in_the_future_or_in_whole_seconds_are_not_trusted(tmp_path: Path) -> None:
    data = tmp_path / "f"
    data.write_text("x")
    info = data.stat()
    assert not trusted(info, now_ns=info.st_ctime_ns)  # too recent
    assert trusted(info, now_ns=info.st_ctime_ns + 3_000_000_000) or info.st_mtime_ns % 10**9 == 0
    future = time.time_ns() + 3600 * 10**9
    os.utime(data, ns=(future, future))
    assert not trusted(data.stat())
    os.utime(data, ns=(10**18, 10**18))  # whole seconds: a coarse file system's times
    coarse = data.stat()
    if coarse.st_ctime_ns % 10**9 == 0:
        assert not trusted(coarse, now_ns=2 * 10**18)


def test_a_run_reuses_cached_input_hashes_and_rehash_bypasses_them(workdir: Path) -> None:
    """The cache entry of an unchanged input is what the next run records (proved by planting a
    wrong digest under the file's exact status); RUNNABLE_REHASH=1 reads the bytes instead."""
    from runnable.backends.runlog import FileSystemRunLogStore
    from runnable.files.hashing import hash_file
    from tests.conftest import run_python
    from tests.lineage_helpers import write_chain

    write_chain(workdir)
    run_step(workdir, "prepare")
    time.sleep(2.1)  # let the input settle (see runnable.files.hashcache)
    cache_dir = workdir.parent / "cache"
    env = {"RUNNABLE_CACHE_DIR": str(cache_dir)}
    assert run_python(workdir / "chain.py", workdir, "train", env=env).returncode == 0
    info = (workdir / "data/features.csv").stat()
    saved = json.loads((cache_dir / "hashes.json").read_text())
    entry = saved["files"][f"{info.st_dev}:{info.st_ino}"]
    assert entry[:3] == [info.st_size, info.st_mtime_ns, info.st_ctime_ns]
    entry[3]["md5"] = "0" * 32
    (cache_dir / "hashes.json").write_bytes(encode(saved["files"]))  # signed, as the cache writes it
    store = FileSystemRunLogStore(workdir / ".run_log_store")

    def last_train_input() -> str:
        runs = sorted((store.get(r) for r in store.iter_ids()), key=lambda r: r.start)
        return [r for r in runs if r.job["name"] == "train"][-1].inputs[0].digest

    assert run_python(workdir / "chain.py", workdir, "train", env=env).returncode == 0
    assert last_train_input() == "0" * 32
    assert run_python(workdir / "chain.py", workdir, "train", env={**env, "RUNNABLE_REHASH": "1"}).returncode == 0
    assert last_train_input() == hash_file(workdir / "data/features.csv")[0]


def test_an_unchanged_large_output_is_stored_from_the_cache_without_reading_it(workdir: Path) -> None:
    """Proved as for inputs: the cache entry of a settled output names another stored object of the
    same size, and the next run records that digest (it did not read the file); RUNNABLE_REHASH=1
    reads it again. Files above 1 MiB take this path (smaller ones cost less to read than to look up)."""
    from runnable.backends.runlog import FileSystemRunLogStore
    from runnable.files.hashing import hash_file
    from tests.conftest import run_python

    (workdir / "a.bin").write_bytes(b"a" * (2 << 20))
    (workdir / "b.bin").write_bytes(b"b" * (2 << 20))
    script = workdir / "job.py"
    script.write_text("from runnable import Catalog, ShellJob\n"
                      "ShellJob(command='true', catalog=Catalog(put=['a.bin', 'b.bin'])).execute()\n")
    time.sleep(2.1)  # let both settle (see runnable.files.hashcache)
    cache_dir = workdir.parent / "cache"
    env = {"RUNNABLE_CACHE_DIR": str(cache_dir)}
    assert run_python(script, workdir, env=env).returncode == 0
    saved = json.loads((cache_dir / "hashes.json").read_text())
    info = (workdir / "a.bin").stat()
    entry = saved["files"][f"{info.st_dev}:{info.st_ino}"]
    real_a, real_b = hash_file(workdir / "a.bin")[0], hash_file(workdir / "b.bin")[0]
    assert entry[3]["md5"] == real_a
    entry[3]["md5"] = real_b
    (cache_dir / "hashes.json").write_bytes(encode(saved["files"]))  # signed, as the cache writes it
    store = FileSystemRunLogStore(workdir / ".run_log_store")

    def last_a() -> str:
        last = sorted((store.get(r) for r in store.iter_ids()), key=lambda r: r.start)[-1]
        return next(f.digest for f in last.files if f.path == "a.bin")

    assert run_python(script, workdir, env=env).returncode == 0
    assert last_a() == real_b
    assert run_python(script, workdir, env={**env, "RUNNABLE_REHASH": "1"}).returncode == 0
    assert last_a() == real_a


def test_a_file_swapped_for_a_link_out_of_the_folder_is_not_followed(chain: tuple[Path, tuple[str, str, str]],
                                                                     tmp_path: Path) -> None:
    """Status selects what it compares as the job does (patterns.expand): a link to a file outside
    the working folder, same bytes or not, is not the file the run read or wrote."""
    folder, (_prepare, train, _evaluate) = chain
    outside = tmp_path / "outside.csv"
    features = folder / "data/features.csv"
    outside.write_bytes(features.read_bytes())
    features.unlink()
    features.symlink_to(outside)
    proc = run_cli(folder, "status")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "output missing: data/features.csv" in proc.stdout
    assert f"train: outdated (run {train})" in proc.stdout and "input vanished: data/features.csv" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_the_hash_cache_drops_the_least_recently_used_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runnable.files import hashcache

    monkeypatch.setattr(hashcache, "MAX_ENTRIES", 2)
    files = {name: tmp_path / name for name in ("a", "b", "c")}
    for name, path in files.items():
        path.write_text(name * 10)
    time.sleep(2.1)  # settled: remembered (see runnable.files.hashcache)
    cache_path = tmp_path / "cache" / "hashes.json"
    first = HashCache(cache_path)
    first.hash(files["a"], "md5")
    first.hash(files["b"], "md5")
    first.save()
    second = HashCache(cache_path)
    second.hash(files["a"], "md5")  # answered from the cache: used now
    second.hash(files["c"], "md5")
    second.save()
    assert second.hits == 1
    kept = json.loads(cache_path.read_text())["files"]

    def key(name: str) -> str:
        info = files[name].stat()
        return f"{info.st_dev}:{info.st_ino}"

    assert list(kept) == [key("a"), key("c")]


def test_a_hash_cache_edited_by_hand_is_discarded_whole(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("x,y\n1,2\n")
    time.sleep(2.1)  # settled: remembered (see runnable.files.hashcache)
    cache_path = tmp_path / "cache" / "hashes.json"
    first = HashCache(cache_path)
    real = first.digest(data, "md5")
    first.save()
    saved = json.loads(cache_path.read_text())
    for entry in saved["files"].values():
        entry[3]["md5"] = "0" * 32  # a planted digest, the checksum left as it was
    cache_path.write_text(json.dumps(saved, separators=(",", ":")))
    second = HashCache(cache_path)
    assert second.digest(data, "md5") == real and second.hits == 0
