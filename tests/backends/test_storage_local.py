"""The file-system catalog on disk: read-only objects, run folders as links, dedup, clean failures."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import stat
from pathlib import Path

import pytest

from runnable.backends.local.catalog import HASH_FIRST_MIN, HINTS, OBJECTS, FileSystemStorage
from runnable.files.fileio import TEMP_PREFIX
from runnable.files.hashing import CHUNK_SIZE, SMALL_FILE, SourceChangedError, hash_file

SIZES = [0, 10, SMALL_FILE, SMALL_FILE + 1, 3 * CHUNK_SIZE + 7]


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def data_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def allocated(folder: Path) -> int:
    """Bytes allocated under ``folder``, each inode once (what ``du`` reports)."""
    seen: set[int] = set()
    total = 0
    for dirpath, dirs, files in os.walk(folder):
        for name in dirs + files:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


def leftovers(catalog: Path) -> list[Path]:
    return [p for p in catalog.rglob("*") if p.name.startswith(TEMP_PREFIX)]


@pytest.fixture(params=["anonymous temporaries", "named temporaries"])
def storage(tmp_path: Path, request: pytest.FixtureRequest) -> FileSystemStorage:
    """Both ways of writing a small object: O_TMPFILE where Linux has it, else a named temporary
    (what other systems get; forced here by telling the storage O_TMPFILE is unavailable)."""
    store = FileSystemStorage(tmp_path / ".catalog")
    if request.param == "named temporaries":
        store._tmpfile_works = False
    return store


@pytest.mark.parametrize("size", SIZES)
def test_stored_bytes_are_identical_and_read_only(storage: FileSystemStorage, tmp_path: Path, size: int) -> None:
    data = data_of(size, seed=size)
    source = write(tmp_path / "work" / "out.bin", data)
    stored = storage.store("run-1", "sub/out.bin", source, "md5")
    assert (stored.digest, stored.size) == hash_file(source, "md5")
    obj = storage.object_path("md5", stored.digest)
    run_file = storage.root / "run-1" / "sub" / "out.bin"
    assert obj.read_bytes() == data and run_file.read_bytes() == data
    for path in (obj, run_file):
        assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0, oct(path.stat().st_mode)
    assert obj.relative_to(storage.root).parts == (OBJECTS, "md5", stored.digest[:2], stored.digest[2:])
    assert stored.location == f"{storage.location}/run-1/sub/out.bin"
    assert leftovers(storage.root) == []


@pytest.mark.parametrize("edit", ["in place", "truncate and rewrite", "replace"])
def test_editing_the_working_file_afterwards_never_changes_the_catalog(storage: FileSystemStorage,
                                                                       tmp_path: Path, edit: str) -> None:
    original = data_of(2 * CHUNK_SIZE, seed=1)
    source = write(tmp_path / "work" / "df.csv", original)
    stored = storage.store("run-1", "df.csv", source, "md5")
    if edit == "in place":
        with open(source, "r+b") as handle:
            handle.write(b"CHANGED")
    elif edit == "truncate and rewrite":
        source.write_bytes(b"new content")
    else:
        write(tmp_path / "work" / "new.csv", b"other").replace(source)
    assert (storage.root / "run-1" / "df.csv").read_bytes() == original
    assert storage.object_path("md5", stored.digest).read_bytes() == original
    assert os.stat(source).st_ino != (storage.root / "run-1" / "df.csv").stat().st_ino


@pytest.mark.parametrize("size", [100, 3 * CHUNK_SIZE])
def test_a_second_run_with_unchanged_output_shares_storage(storage: FileSystemStorage, tmp_path: Path,
                                                           size: int) -> None:
    source = write(tmp_path / "work" / "model.bin", data_of(size, seed=2))
    first = storage.store("run-1", "model.bin", source, "md5")
    before = allocated(storage.root)
    second = storage.store("run-2", "model.bin", source, "md5")
    assert first.new and not second.new and first.digest == second.digest
    one, two = (storage.root / run / "model.bin" for run in ("run-1", "run-2"))
    assert two.read_bytes() == source.read_bytes()
    # Same inode (hard link) or, on a file system with reflinks, shared blocks: either way only a
    # folder entry or two is added, never another copy of the content.
    assert one.stat().st_ino == two.stat().st_ino or storage._reflink_works
    assert allocated(storage.root) - before < 64 * 1024
    assert [digest for _, digest, _ in storage.iter_objects()] == [first.digest]
    assert leftovers(storage.root) == []


def test_dedup_never_mixes_algorithms(storage: FileSystemStorage, tmp_path: Path) -> None:
    source = write(tmp_path / "work" / "a.txt", b"same bytes")
    by_algorithm = {a: storage.store(f"run-{a}", "a.txt", source, a) for a in ("md5", "sha256", "blake3")}
    assert all(s.new for s in by_algorithm.values())  # each algorithm keeps its own object
    assert sorted((a, d) for a, d, _ in storage.iter_objects()) == sorted(
        (a, s.digest) for a, s in by_algorithm.items())
    md5 = by_algorithm["md5"].digest
    assert not storage.has_object("sha256", md5) and not storage.has_object("blake3", md5)
    inodes = {storage.object_path(a, s.digest).stat().st_ino for a, s in by_algorithm.items()}
    assert len(inodes) == 3
    again = storage.store("run-md5-again", "a.txt", source, "sha256")
    assert not again.new and again.digest == by_algorithm["sha256"].digest


def test_storing_the_same_path_twice_in_a_run_replaces_it_atomically(storage: FileSystemStorage,
                                                                      tmp_path: Path) -> None:
    storage.store("run-1", "log.txt", write(tmp_path / "a", b"first"), "md5")
    storage.store("run-1", "log.txt", write(tmp_path / "b", b"second"), "md5")
    assert (storage.root / "run-1" / "log.txt").read_bytes() == b"second"
    assert leftovers(storage.root) == []


@pytest.mark.parametrize("size", [100, 4 * CHUNK_SIZE])
def test_a_crash_mid_copy_leaves_no_complete_looking_file(storage: FileSystemStorage, tmp_path: Path,
                                                          size: int) -> None:
    source = write(tmp_path / "work" / "big.bin", data_of(size, seed=3))

    def crash(n: int) -> None:
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        storage.store("run-1", "big.bin", source, "md5", crash)
    assert list(storage.iter_objects()) == []
    assert not (storage.root / "run-1" / "big.bin").exists()
    assert leftovers(storage.root) == []  # the temporary copy is gone too


def test_a_source_that_shrinks_while_stored_fails_and_stores_nothing(storage: FileSystemStorage,
                                                                     tmp_path: Path) -> None:
    source = write(tmp_path / "work" / "big.bin", data_of(4 * CHUNK_SIZE, seed=4))
    calls = 0

    def shrink(n: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            os.truncate(source, CHUNK_SIZE)

    with pytest.raises(SourceChangedError, match="changed size"):
        storage.store("run-1", "big.bin", source, "md5", shrink)
    assert list(storage.iter_objects()) == [] and leftovers(storage.root) == []
    assert not (storage.root / "run-1" / "big.bin").exists()


def test_a_folder_removed_behind_the_storages_back_is_made_again(storage: FileSystemStorage,
                                                                  tmp_path: Path) -> None:
    first = storage.store("run-1", "a.txt", write(tmp_path / "a.txt", b"a"), "md5")
    prefix = storage.object_path("md5", first.digest).parent
    storage.delete_object("md5", first.digest)
    prefix.rmdir()  # e.g. garbage collection tidying empty folders
    again = storage.store("run-2", "a.txt", tmp_path / "a.txt", "md5")
    assert again.new and storage.object_path("md5", again.digest).read_bytes() == b"a"


def test_the_temporaries_folder_removed_behind_the_storages_back_is_made_again(storage: FileSystemStorage,
                                                                              tmp_path: Path) -> None:
    big = SMALL_FILE + 1  # copied through a temporary object
    storage.store("run-1", "a.bin", write(tmp_path / "a.bin", data_of(big, 1)), "md5")
    shutil.rmtree(storage.root / OBJECTS / "tmp")  # e.g. someone tidying the catalog by hand
    again = storage.store("run-1", "b.bin", write(tmp_path / "b.bin", data_of(big, 2)), "md5")
    assert again.new and (storage.root / "run-1" / "b.bin").read_bytes() == data_of(big, 2)


def test_a_run_folder_removed_behind_the_storages_back_is_made_again(storage: FileSystemStorage,
                                                                      tmp_path: Path) -> None:
    storage.store("run-1", "d/a.txt", write(tmp_path / "a.txt", b"a"), "md5")
    shutil.rmtree(storage.root / "run-1" / "d")
    storage.store("run-1", "d/b.txt", write(tmp_path / "b.txt", b"b"), "md5")
    assert (storage.root / "run-1" / "d" / "b.txt").read_bytes() == b"b"


def test_hard_link_limit_falls_back_to_a_read_only_copy(storage: FileSystemStorage, tmp_path: Path) -> None:
    source = write(tmp_path / "work" / "popular.txt", b"the same small content in every run")
    stored = storage.store("run-0", "popular.txt", source, "md5")
    obj = storage.object_path("md5", stored.digest)
    # Fill the object's hard-link count up to the file system's limit (65,000 on ext4).
    crowd = tmp_path / "crowd"
    crowd.mkdir()
    try:
        for i in range(70_000):
            os.link(obj, crowd / str(i))
    except OSError as exc:
        if exc.errno != errno.EMLINK:
            raise
    else:
        pytest.skip("this file system has no hard-link limit below 70,000")
    stored_again = storage.store("run-1", "popular.txt", source, "md5")
    run_file = storage.root / "run-1" / "popular.txt"
    assert not stored_again.new
    assert run_file.read_bytes() == source.read_bytes()
    assert run_file.stat().st_ino != obj.stat().st_ino  # a copy, since no link was possible
    assert stat.S_IMODE(run_file.stat().st_mode) & 0o222 == 0
    assert leftovers(storage.root) == []


def test_many_small_files_each_stored_once(storage: FileSystemStorage, tmp_path: Path) -> None:
    from runnable.files.patterns import Match
    from runnable.files.put import put_files

    files = [Match(f"d{i % 7}/f{i}.txt", write(tmp_path / "work" / f"d{i % 7}" / f"f{i}.txt",
                                              f"content {i % 50}".encode())) for i in range(300)]
    result = put_files(files, storage, "run-1", "md5", store_copy=True)
    assert result.failures == []
    assert [e.path for e in result.entries] == [m.rel for m in files]
    assert len(list(storage.iter_objects())) == 50
    # Each distinct content counts once, except when two threads store the same new content at the
    # same instant: both report it new (the object is written twice, identically, and kept once).
    assert sum(len(f"content {i}") for i in range(50)) <= result.bytes_new < sum(e.size for e in result.entries)
    for match in files:
        assert (storage.root / "run-1" / match.rel).read_bytes() == match.path.read_bytes()
    assert leftovers(storage.root) == []


# -- a large file stored again: hashed first when the hint says it is probably unchanged ------------

LARGE = HASH_FIRST_MIN + 12345


def _touched_since(folder: Path) -> bool:
    """True if an entry was created or removed in ``folder`` since ``_untouch`` (mtime moved)."""
    return folder.stat().st_mtime_ns != 0


def _untouch(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    os.utime(folder, ns=(0, 0))


def test_an_unchanged_large_file_is_linked_to_its_object_without_a_temporary_copy(tmp_path: Path) -> None:
    storage = FileSystemStorage(tmp_path / ".catalog")
    source = write(tmp_path / "work" / "model.bin", data_of(LARGE, seed=7))
    first = storage.store("run-1", "model.bin", source, "md5")
    temporaries = storage.root / OBJECTS / "tmp"
    _untouch(temporaries)
    counted: list[int] = []

    second = FileSystemStorage(storage.root).store("run-2", "model.bin", source, "md5", counted.append)

    assert not _touched_since(temporaries)  # no temporary copy was made (and removed) this time
    assert (second.digest, second.size, second.new) == (first.digest, LARGE, False)
    assert second.digest == hash_file(source, "md5")[0]
    run_file = storage.root / "run-2" / "model.bin"
    assert run_file.stat().st_ino == (storage.root / "run-1" / "model.bin").stat().st_ino
    assert run_file.read_bytes() == source.read_bytes()
    assert sum(counted) == LARGE  # progress saw every byte once


def test_a_large_file_changed_at_the_same_size_is_copied_with_its_new_hash(tmp_path: Path) -> None:
    storage = FileSystemStorage(tmp_path / ".catalog")
    source = write(tmp_path / "work" / "model.bin", data_of(LARGE, seed=8))
    original = source.read_bytes()
    first = storage.store("run-1", "model.bin", source, "md5")
    with open(source, "r+b") as handle:  # same size, one byte different, in the last chunk
        handle.seek(LARGE - 3)
        handle.write(b"!")
    counted: list[int] = []

    second = storage.store("run-2", "model.bin", source, "md5", counted.append)

    assert second.new and second.digest != first.digest
    assert second.digest == hash_file(source, "md5")[0]
    assert (storage.root / "run-2" / "model.bin").read_bytes() == source.read_bytes()
    assert (storage.root / "run-1" / "model.bin").read_bytes() == original
    assert sum(counted) == LARGE  # read twice, counted once
    third = storage.store("run-3", "model.bin", source, "md5")  # the hint now names the new content
    assert (third.digest, third.new) == (second.digest, False)
    assert leftovers(storage.root) == []


def test_a_hint_whose_object_is_gone_or_that_is_corrupt_only_costs_a_copy(tmp_path: Path) -> None:
    storage = FileSystemStorage(tmp_path / ".catalog")
    source = write(tmp_path / "work" / "model.bin", data_of(LARGE, seed=9))
    first = storage.store("run-1", "model.bin", source, "md5")
    storage.object_path("md5", first.digest).unlink()  # as gc would after the run was deleted

    second = storage.store("run-2", "model.bin", source, "md5")
    assert second.new and second.digest == first.digest
    assert storage.object_path("md5", first.digest).read_bytes() == source.read_bytes()

    (hint,) = (storage.root / HINTS).iterdir()
    valid = json.loads(hint.read_text())
    assert valid["digest"] == first.digest and valid["size"] == LARGE
    damaged = [{**valid, "digest": "../../x"}, {**valid, "digest": ["a"] * 32}, {**valid, "size": str(LARGE)},
               {**valid, "changed": "no"}, {**valid, "algorithm": "crc32"}, {**valid, "extra": 1}]
    for junk in ["", "[1, 2]", "[" * 5000, *map(json.dumps, damaged)]:
        os.chmod(hint, 0o644)
        hint.write_text(junk)
        again = storage.store("run-3", "model.bin", source, "md5")
        assert (again.digest, again.new) == (first.digest, False)
        assert (storage.root / "run-3" / "model.bin").read_bytes() == source.read_bytes()
    assert sorted(p.name for p in (storage.root / HINTS).iterdir()) == [hint.name]  # rewritten, no litter
    assert json.loads(hint.read_text()) == valid
    assert leftovers(storage.root) == []


def _store_counting(storage: FileSystemStorage, run: str, source: Path) -> tuple[bool, int]:
    """Store and return (hashed first and then copied: progress got zero-byte calls, bytes counted)."""
    counted: list[int] = []
    storage.store(run, "model.bin", source, "md5", counted.append)
    return 0 in counted, sum(counted)


def test_a_large_output_with_new_content_every_run_is_read_twice_only_once(tmp_path: Path) -> None:
    storage = FileSystemStorage(tmp_path / ".catalog")
    source = write(tmp_path / "work" / "model.bin", data_of(LARGE, seed=20))
    assert _store_counting(storage, "run-1", source) == (False, LARGE)
    write(source, data_of(LARGE, seed=21))  # the same size, other content: weights of a retrained model
    os.utime(source, ns=(10**18, 10**18))  # a later time for certain (a clock tick can be 4 ms)
    assert _store_counting(storage, "run-2", source) == (True, LARGE)  # hashed first, then copied
    write(source, data_of(LARGE, seed=22))
    os.utime(source, ns=(2 * 10**18, 2 * 10**18))
    assert _store_counting(storage, "run-3", source) == (False, LARGE)  # copied straight away now
    for run, seed in (("run-2", 21), ("run-3", 22)):
        assert (storage.root / run / "model.bin").read_bytes() == data_of(LARGE, seed=seed)
    # Untouched since the last store: hashed first again, and linked.
    _untouch(storage.root / OBJECTS / "tmp")
    assert _store_counting(storage, "run-4", source) == (False, LARGE)
    assert not _touched_since(storage.root / OBJECTS / "tmp")


def test_a_large_output_rewritten_with_the_same_content_is_not_copied(tmp_path: Path) -> None:
    storage = FileSystemStorage(tmp_path / ".catalog")
    source = write(tmp_path / "work" / "model.bin", data_of(LARGE, seed=23))
    storage.store("run-1", "model.bin", source, "md5")
    for run in ("run-2", "run-3"):
        replacement = write(tmp_path / "work" / "model.bin.new", data_of(LARGE, seed=23))
        os.replace(replacement, source)  # a new file (inode, time), as a job writing its output would
        _untouch(storage.root / OBJECTS / "tmp")
        stored = storage.store(run, "model.bin", source, "md5")
        assert not stored.new and not _touched_since(storage.root / OBJECTS / "tmp")
        assert (storage.root / run / "model.bin").read_bytes() == source.read_bytes()


def test_hints_whose_object_is_gone_are_pruned_with_the_temporaries(tmp_path: Path) -> None:
    storage = FileSystemStorage(tmp_path / ".catalog")
    a = write(tmp_path / "work" / "a.bin", data_of(LARGE, seed=24))
    b = write(tmp_path / "work" / "b.bin", data_of(LARGE, seed=25))
    gone = storage.store("run-1", "a.bin", a, "md5")
    storage.store("run-1", "b.bin", b, "md5")
    assert len(list((storage.root / HINTS).iterdir())) == 2
    storage.delete_run("run-1")
    storage.delete_object("md5", gone.digest)  # as gc does once no record refers to it
    freed = storage.clean_temporaries(older_than_seconds=3600)
    (kept,) = (storage.root / HINTS).iterdir()
    assert json.loads(kept.read_text())["digest"] == hash_file(b, "md5")[0] and freed > 0


def test_hints_are_kept_apart_by_source_path_and_algorithm(tmp_path: Path) -> None:
    storage = FileSystemStorage(tmp_path / ".catalog")
    a = write(tmp_path / "work" / "a.bin", data_of(LARGE, seed=10))
    b = write(tmp_path / "work" / "b.bin", data_of(LARGE, seed=11))  # same size, other content
    storage.store("run-1", "a.bin", a, "md5")
    storage.store("run-1", "b.bin", b, "md5")
    assert len(list((storage.root / HINTS).iterdir())) == 2
    blake = storage.store("run-2", "a.bin", a, "blake3")
    assert blake.new and blake.digest == hash_file(a, "blake3")[0]  # never another algorithm's object
    assert len(list((storage.root / HINTS).iterdir())) == 3  # its own hint: md5's is kept
    _untouch(storage.root / OBJECTS / "tmp")
    assert not storage.store("run-3", "a.bin", a, "md5").new  # md5 again: still hashed first
    assert not _touched_since(storage.root / OBJECTS / "tmp")
    assert storage.store("run-3", "b.bin", b, "md5").digest == hash_file(b, "md5")[0]


def test_clean_temporaries_also_removes_an_abandoned_hint_but_never_a_hint(tmp_path: Path) -> None:
    storage = FileSystemStorage(tmp_path / ".catalog")
    source = write(tmp_path / "work" / "model.bin", data_of(LARGE, seed=12))
    storage.store("run-1", "model.bin", source, "md5")
    (hint,) = (storage.root / HINTS).iterdir()
    abandoned = write(storage.root / HINTS / f"{TEMP_PREFIX}999-x-1-hint", b"{}")  # a crash mid-write

    assert storage.clean_temporaries(older_than_seconds=3600) == 0  # too young to be abandoned
    assert storage.clean_temporaries(older_than_seconds=-60) == 2
    assert not abandoned.exists() and hint.exists()


def test_a_hints_folder_that_is_a_file_or_a_link_is_not_used_and_nothing_outside_is_touched(tmp_path: Path) -> None:
    source = write(tmp_path / "work" / "model.bin", data_of(LARGE, seed=30))
    outside = tmp_path / "elsewhere"
    write(outside / "notes.txt", b"the user's")
    for kind in ("file", "link"):
        storage = FileSystemStorage(tmp_path / f"catalog-{kind}")
        storage.root.mkdir()
        if kind == "file":
            (storage.root / HINTS).write_text("not a folder")
        else:
            (storage.root / HINTS).symlink_to(outside)
        for run in ("run-1", "run-2"):
            stored = storage.store(run, "model.bin", source, "md5")
            assert (storage.root / run / "model.bin").read_bytes() == source.read_bytes()
        assert stored.digest == hash_file(source, "md5")[0]
        assert storage.clean_temporaries(older_than_seconds=-60) == 0
        assert sorted(p.name for p in outside.iterdir()) == ["notes.txt"]


def test_a_hint_that_is_not_a_regular_file_is_ignored_without_blocking(tmp_path: Path) -> None:
    storage = FileSystemStorage(tmp_path / ".catalog")
    source = write(tmp_path / "work" / "model.bin", data_of(LARGE, seed=31))
    storage.store("run-1", "model.bin", source, "md5")
    (hint,) = (storage.root / HINTS).iterdir()
    hint.unlink()
    os.mkfifo(hint)  # opening it for reading would wait for a writer forever
    second = storage.store("run-2", "model.bin", source, "md5")
    assert second.digest == hash_file(source, "md5")[0]
    assert json.loads(hint.read_text())["digest"] == second.digest  # a real hint took its place
    fifo = storage.root / HINTS / ("0" * 32)
    os.mkfifo(fifo)
    assert storage.clean_temporaries(older_than_seconds=-60) == 0 and stat.S_ISFIFO(os.lstat(fifo).st_mode)
