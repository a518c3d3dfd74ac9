"""One contract every catalog backend passes: in memory, the file-system folder and S3 (copy and pointer modes).

Each test builds its backend through the ``storage`` fixture; S3 tests talk to the session's real
``moto_server`` on 127.0.0.1, each in a bucket of its own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from runnable.backends.local.catalog import FileSystemStorage
from runnable.backends.memory import MemoryStorage
from runnable.backends.protocols import Storage
from runnable.errors import RunnableError
from runnable.files.hashing import hash_file
from runnable.files.patterns import Match
from runnable.files.put import put_files
from runnable.record import FileEntry, RunRecord

from .conftest import FlakyProxy, S3Server

# The smallest part S3 allows, so that a 12 MiB file takes the streaming (multipart) path quickly.
SMALL_PART = 5 * 1024 * 1024

BACKENDS = ["memory", "file-system", "s3-copy", "s3-pointer"]


def make_storage(kind: str, tmp_path: Path, request: pytest.FixtureRequest, **options: object) -> Storage:
    if kind == "memory":
        return MemoryStorage()
    if kind == "file-system":
        return FileSystemStorage(tmp_path / ".catalog")
    from runnable.backends.s3.catalog import S3Storage

    server: S3Server = request.getfixturevalue("s3_server")
    bucket: str = request.getfixturevalue("bucket")
    return S3Storage(bucket, "team/catalog", endpoint_url=server.endpoint, run_files=kind.split("-")[1],
                     part_size=SMALL_PART, **options)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    return make_storage(request.param, tmp_path, request)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def pseudo_random(n: int, seed: int = 1) -> bytes:
    """Incompressible-looking bytes without the cost of os.urandom on every test run."""
    import random

    return random.Random(seed).randbytes(n)


def test_satisfies_the_protocol(storage: Storage) -> None:
    assert isinstance(storage, Storage)


@pytest.mark.parametrize("algorithm", ["md5", "sha256", "blake3"])
def test_store_then_read_back_by_run_path_and_by_hash(storage: Storage, tmp_path: Path, algorithm: str) -> None:
    source = write(tmp_path / "work" / "df.csv", b"a,b\n1,2\n")
    stored = storage.store("run-1", "data/df.csv", source, algorithm)
    digest, size = hash_file(source, algorithm)
    assert (stored.digest, stored.size, stored.new) == (digest, size, True)
    assert stored.location.endswith("run-1/data/df.csv")
    assert storage.run_location("run-1").endswith("run-1")
    with storage.open_run_file("run-1", "data/df.csv") as handle:
        assert handle.read() == b"a,b\n1,2\n"
    with storage.open_object(algorithm, digest) as handle:
        assert handle.read() == b"a,b\n1,2\n"
    assert storage.has_object(algorithm, digest)
    assert list(storage.iter_objects()) == [(algorithm, digest, size)]


def test_empty_file(storage: Storage, tmp_path: Path) -> None:
    stored = storage.store("run-1", "empty.txt", write(tmp_path / "empty.txt", b""), "md5")
    assert stored.size == 0 and stored.digest == "d41d8cd98f00b204e9800998ecf8427e"
    with storage.open_run_file("run-1", "empty.txt") as handle:
        assert handle.read() == b""


def test_identical_content_is_stored_once(storage: Storage, tmp_path: Path) -> None:
    source = write(tmp_path / "a.txt", b"same bytes")
    first = storage.store("run-1", "a.txt", source, "md5")
    second = storage.store("run-2", "a.txt", source, "md5")
    third = storage.store("run-2", "copy/of/a.txt", source, "md5")
    assert first.new and not second.new and not third.new
    assert [digest for _, digest, _ in storage.iter_objects()] == [first.digest]
    for run, rel in (("run-1", "a.txt"), ("run-2", "a.txt"), ("run-2", "copy/of/a.txt")):
        with storage.open_run_file(run, rel) as handle:
            assert handle.read() == b"same bytes"


def test_large_file_streams_and_round_trips(storage: Storage, tmp_path: Path) -> None:
    data = pseudo_random(12 * 1024 * 1024 + 17)  # more than two S3 parts, not a multiple of one
    source = write(tmp_path / "big.bin", data)
    seen: list[int] = []
    stored = storage.store("run-1", "out/big.bin", source, "sha256", seen.append)
    assert sum(seen) == len(data)
    assert (stored.digest, stored.size) == hash_file(source, "sha256")
    with storage.open_run_file("run-1", "out/big.bin") as handle:
        assert handle.read() == data
    again = storage.store("run-2", "out/big.bin", source, "sha256")
    assert not again.new
    assert len(list(storage.iter_objects())) == 1


def test_interrupted_store_leaves_nothing_that_looks_complete(storage: Storage, tmp_path: Path) -> None:
    data = pseudo_random(12 * 1024 * 1024, seed=2)
    source = write(tmp_path / "big.bin", data)
    done = 0

    def interrupt(n: int) -> None:
        nonlocal done
        done += n
        if done > 6 * 1024 * 1024:
            raise KeyboardInterrupt("simulated Ctrl-C in the middle of the upload")

    with pytest.raises(KeyboardInterrupt):
        storage.store("run-1", "big.bin", source, "md5", interrupt)
    digest, _ = hash_file(source, "md5")
    assert not storage.has_object("md5", digest)
    assert list(storage.iter_objects()) == []
    with pytest.raises(FileNotFoundError):
        storage.open_run_file("run-1", "big.bin")


def test_objects_and_runs_are_deleted_separately(storage: Storage, tmp_path: Path) -> None:
    source = write(tmp_path / "a.txt", b"hello")
    stored = storage.store("run-1", "dir/a.txt", source, "md5")
    storage.delete_run("run-1")
    with pytest.raises(FileNotFoundError):
        storage.open_run_file("run-1", "dir/a.txt")
    assert storage.has_object("md5", stored.digest)  # the object outlives the run folder
    assert storage.delete_object("md5", stored.digest) == 5
    assert not storage.has_object("md5", stored.digest)
    assert storage.delete_object("md5", stored.digest) == 0
    with pytest.raises(FileNotFoundError):
        storage.open_object("md5", stored.digest)
    storage.delete_run("never-existed")  # no error


def test_refuses_paths_that_leave_the_run_folder(storage: Storage, tmp_path: Path) -> None:
    source = write(tmp_path / "a.txt", b"x")
    with pytest.raises(RunnableError):
        storage.store("run-1", "../escape.txt", source, "md5")
    with pytest.raises(RunnableError):
        storage.store("../run", "a.txt", source, "md5")


def test_missing_source_is_an_error_and_stores_nothing(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(OSError):
        storage.store("run-1", "gone.txt", tmp_path / "gone.txt", "md5")
    assert list(storage.iter_objects()) == []


def test_many_files_concurrently_through_put_files(storage: Storage, tmp_path: Path) -> None:
    work = tmp_path / "work"
    files = [Match(f"d/{i}.txt", write(work / "d" / f"{i}.txt", f"file {i % 5}".encode())) for i in range(20)]
    files.append(Match("big.bin", write(work / "big.bin", pseudo_random(11 * 1024 * 1024, seed=3))))
    result = put_files(files, storage, "run-1", "md5", store_copy=True)
    assert result.failures == []
    assert [e.path for e in result.entries] == [m.rel for m in files]
    assert len(list(storage.iter_objects())) == 6  # five distinct small contents and the big file
    for match in files:
        with storage.open_run_file("run-1", match.rel) as handle:
            assert handle.read() == match.path.read_bytes()


def test_concurrent_stores_of_the_same_new_content(storage: Storage, tmp_path: Path) -> None:
    source = write(tmp_path / "a.bin", pseudo_random(6 * 1024 * 1024, seed=4))
    outcomes: list[bool] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            outcomes.append(storage.store(f"run-{i}", "a.bin", source, "md5").new)
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert True in outcomes  # at least one store created it; racing twins may also report new
    assert len(list(storage.iter_objects())) == 1
    for i in range(4):
        with storage.open_run_file(f"run-{i}", "a.bin") as handle:
            assert handle.read() == source.read_bytes()


def test_clean_temporaries_returns_bytes_freed(storage: Storage) -> None:
    assert storage.clean_temporaries(older_than_seconds=3600) == 0


# -- S3 only: what the protocol cannot show -------------------------------------------------------

S3Factory = Callable[..., object]


@pytest.fixture
def s3_storage(request: pytest.FixtureRequest, tmp_path: Path) -> S3Factory:
    def factory(mode: str = "copy", **options: object) -> object:
        return make_storage(f"s3-{mode}", tmp_path, request, **options)

    return factory


@pytest.mark.parametrize("mode", ["copy", "pointer"])
def test_s3_run_files_are_browsable_under_prefix_run_id_and_path(
    s3_storage: S3Factory, s3_server: S3Server, bucket: str, tmp_path: Path, mode: str
) -> None:
    storage = s3_storage(mode)
    source = write(tmp_path / "df.csv", b"x,y\n")
    stored = storage.store("run-1", "data/df.csv", source, "md5")  # type: ignore[attr-defined]
    keys = {o["Key"]: o["Size"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert f"team/catalog/.objects/md5/{stored.digest[:2]}/{stored.digest[2:]}" in keys
    assert "team/catalog/run-1/data/df.csv" in keys
    body = s3_server.client().get_object(Bucket=bucket, Key="team/catalog/run-1/data/df.csv")["Body"].read()
    if mode == "copy":
        assert body == b"x,y\n"  # a person downloading it gets the file itself
    else:
        assert stored.digest.encode() in body  # a small pointer naming the content
    assert stored.location == f"s3://{bucket}/team/catalog/run-1/data/df.csv"


def test_s3_unchanged_content_uploads_nothing(s3_storage: S3Factory, tmp_path: Path) -> None:
    small = write(tmp_path / "small.txt", b"tiny")
    big = write(tmp_path / "big.bin", pseudo_random(11 * 1024 * 1024, seed=5))
    storage = s3_storage("copy", hash_first=True)
    storage.store("run-1", "small.txt", small, "md5")  # type: ignore[attr-defined]
    storage.store("run-1", "big.bin", big, "md5")  # type: ignore[attr-defined]
    first = storage.bytes_uploaded  # type: ignore[attr-defined]
    assert first >= 11 * 1024 * 1024 + 4
    second_run = s3_storage("copy", hash_first=True)
    assert not second_run.store("run-2", "small.txt", small, "md5").new  # type: ignore[attr-defined]
    assert not second_run.store("run-2", "big.bin", big, "md5").new  # type: ignore[attr-defined]
    assert second_run.bytes_uploaded == 0  # type: ignore[attr-defined]
    with second_run.open_run_file("run-2", "big.bin") as handle:  # type: ignore[attr-defined]
        assert handle.read() == big.read_bytes()


def test_s3_streaming_mode_uploads_a_changed_file_once(s3_storage: S3Factory, tmp_path: Path) -> None:
    big = write(tmp_path / "big.bin", pseudo_random(11 * 1024 * 1024, seed=6))
    storage = s3_storage("copy")
    storage.store("run-1", "big.bin", big, "md5")  # type: ignore[attr-defined]
    assert storage.bytes_uploaded == big.stat().st_size  # type: ignore[attr-defined]  # one read, one upload


def test_s3_interrupted_multipart_upload_is_aborted(
    s3_storage: S3Factory, s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    storage = s3_storage("copy")
    source = write(tmp_path / "big.bin", pseudo_random(16 * 1024 * 1024, seed=7))
    client = s3_server.client()
    in_flight: list[int] = []
    done = 0

    def interrupt(n: int) -> None:
        nonlocal done
        done += n
        if done > 10 * 1024 * 1024:
            in_flight.append(len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])))
            raise KeyboardInterrupt("simulated Ctrl-C")

    with pytest.raises(KeyboardInterrupt):
        storage.store("run-1", "big.bin", source, "md5", interrupt)  # type: ignore[attr-defined]
    assert in_flight == [1]  # the upload had really started...
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []  # ...and was aborted
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_s3_clean_temporaries_removes_abandoned_temporary_uploads(
    s3_storage: S3Factory, s3_server: S3Server, bucket: str
) -> None:
    storage = s3_storage("pointer")
    s3_server.client().put_object(Bucket=bucket, Key="team/catalog/.objects/tmp/abandoned", Body=b"12345")
    assert storage.clean_temporaries(older_than_seconds=3600) == 0  # too young
    assert storage.clean_temporaries(older_than_seconds=-60) == 5
    assert s3_server.client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_s3_bad_settings_are_configuration_errors(s3_server: S3Server, bucket: str) -> None:
    from runnable.backends.s3.catalog import S3Storage
    from runnable.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="run_files"):
        S3Storage(bucket, endpoint_url=s3_server.endpoint, run_files="symlink")
    with pytest.raises(ConfigurationError, match="prefix"):
        S3Storage(bucket, "a/../b", endpoint_url=s3_server.endpoint)
    with pytest.raises(ConfigurationError, match="part_size"):
        S3Storage(bucket, endpoint_url=s3_server.endpoint, part_size=1024)


def test_s3_unreachable_server_is_a_catalog_error(tmp_path: Path, aws_env: dict[str, str]) -> None:
    from runnable.backends.s3.catalog import S3Storage
    from runnable.errors import CatalogError

    from .conftest import _free_port

    storage = S3Storage("nobucket", endpoint_url=f"http://127.0.0.1:{_free_port()}", max_retries=0)
    with pytest.raises(CatalogError, match="could not store .*check the bucket, endpoint and AWS credentials"):
        storage.store("run-1", "a.txt", write(tmp_path / "a.txt", b"x"), "md5")


def test_s3_transient_errors_are_retried(flaky_proxy: FlakyProxy, bucket: str, tmp_path: Path) -> None:
    from runnable.backends.s3.catalog import S3Storage
    from runnable.backends.s3.runlog import S3RunLogStore

    data = pseudo_random(12 * 1024 * 1024, seed=8)
    source = write(tmp_path / "big.bin", data)
    storage = S3Storage(bucket, "c", endpoint_url=flaky_proxy.endpoint, part_size=SMALL_PART)
    stored = storage.store("run-1", "big.bin", source, "md5")
    small = storage.store("run-1", "small.txt", write(tmp_path / "small.txt", b"small"), "md5")
    with storage.open_run_file("run-1", "big.bin") as handle:
        assert handle.read() == data
    with storage.open_object("md5", small.digest) as handle:
        assert handle.read() == b"small"
    runs = S3RunLogStore(bucket, "r", endpoint_url=flaky_proxy.endpoint)
    for i in range(3):
        assert runs.create(_record(f"run-{i}"))
    assert sorted(runs.iter_ids()) == ["run-0", "run-1", "run-2"]
    assert stored.digest == hash_file(source, "md5")[0]
    assert flaky_proxy.failures >= 5  # every third request failed and was retried


def _record(run_id: str) -> RunRecord:
    return RunRecord(run_id=run_id, status="RUNNING", job={}, start="2025-01-01T00:00:00+00:00")


# -- S3 pointer mode: large files are never copied server-side ----------------------------------

def _keys(server: S3Server, bucket: str) -> dict[str, int]:
    listing = server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: o["Size"] for o in listing}


def _blobs(keys: dict[str, int]) -> list[str]:
    return [k for k in keys if k.startswith("team/catalog/.objects/blobs/")]


def test_s3_large_file_in_pointer_mode_is_an_alias_to_its_blob_without_any_copy(
    counting_proxy: FlakyProxy, s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    from runnable.backends.s3.catalog import S3Storage

    data = pseudo_random(20 * 1024 * 1024 + 3, seed=9)
    source = write(tmp_path / "big.bin", data)
    storage = S3Storage(bucket, "team/catalog", endpoint_url=counting_proxy.endpoint, part_size=SMALL_PART)
    stored = storage.store("run-1", "out/big.bin", source, "md5")
    assert stored.new and counting_proxy.copies == 0
    keys = _keys(s3_server, bucket)
    alias_key = f"team/catalog/.objects/md5/{stored.digest[:2]}/{stored.digest[2:]}"
    (blob_key,) = _blobs(keys)
    assert set(keys) == {blob_key, alias_key, "team/catalog/run-1/out/big.bin"}
    assert keys[blob_key] == len(data) and keys[alias_key] < 1024
    alias = s3_server.client().get_object(Bucket=bucket, Key=alias_key)
    assert alias["ContentType"] == "application/vnd.runnable.alias+json"
    assert json.loads(alias["Body"].read())["blob"] == blob_key.removeprefix("team/catalog/")
    assert list(storage.iter_objects()) == [("md5", stored.digest, len(data))]  # the real size
    for handle in (storage.open_object("md5", stored.digest), storage.open_run_file("run-1", "out/big.bin")):
        with handle:
            assert handle.read() == data

    again = storage.store("run-2", "out/big.bin", source, "md5")  # unchanged content, second run
    assert not again.new and counting_proxy.copies == 0
    keys = _keys(s3_server, bucket)
    assert _blobs(keys) == [blob_key]  # its upload was deleted: nothing new stored
    assert set(keys) == {blob_key, alias_key, "team/catalog/run-1/out/big.bin", "team/catalog/run-2/out/big.bin"}


def test_s3_racing_stores_of_new_large_content_keep_one_blob(
    s3_storage: S3Factory, s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    source = write(tmp_path / "big.bin", pseudo_random(11 * 1024 * 1024, seed=10))
    stores = [s3_storage("pointer") for _ in range(3)]  # three clients, as from three machines
    barrier = threading.Barrier(len(stores))
    outcomes: list[bool] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            barrier.wait()
            outcomes.append(stores[i].store(f"run-{i}", "big.bin", source, "md5").new)  # type: ignore[attr-defined]
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert outcomes.count(True) == 1  # the conditional create of the alias has exactly one winner
    keys = _keys(s3_server, bucket)
    assert len(_blobs(keys)) == 1
    for i in range(len(stores)):
        with stores[0].open_run_file(f"run-{i}", "big.bin") as handle:  # type: ignore[attr-defined]
            assert handle.read() == source.read_bytes()


def test_s3_gc_deletes_alias_and_blob(s3_storage: S3Factory, s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    from runnable.backends.s3.runlog import S3RunLogStore
    from runnable.history.gc import Policy, collect
    from runnable.history.runs import History

    storage = s3_storage("pointer")
    size = 11 * 1024 * 1024
    big = storage.store("run-1", "big.bin", write(tmp_path / "big.bin", pseudo_random(size, seed=11)), "md5")  # type: ignore[attr-defined]
    small = storage.store("run-1", "small.txt", write(tmp_path / "small.txt", b"small"), "md5")  # type: ignore[attr-defined]
    storage.delete_run("run-1")  # type: ignore[attr-defined]
    kept = storage.store("run-2", "kept.txt", write(tmp_path / "kept.txt", b"kept"), "md5")  # type: ignore[attr-defined]
    runs = S3RunLogStore(bucket, "team/runs", endpoint_url=s3_server.endpoint)
    # A record that still names one content (a store with no record at all is refused by gc).
    runs.put(RunRecord(run_id="run-2", status="SUCCESS", job={}, start="2024-01-01T00:00:00+00:00",
                       files=[FileEntry("kept.txt", 4, {"md5": kept.digest}, True, kept.location)]))
    before = _keys(s3_server, bucket)
    report = collect(History(storage, runs), Policy())  # type: ignore[arg-type]
    assert sorted(report.objects) == sorted([("md5", big.digest, size), ("md5", small.digest, 5)])
    left = _keys(s3_server, bucket)
    assert len(left) < len(before) and not any(big.digest in k or small.digest in k for k in left)
    assert _blobs(left) == []  # the large file's blob went with its alias
    with storage.open_object("md5", kept.digest) as handle:  # type: ignore[attr-defined]
        assert handle.read() == b"kept"


def test_s3_clean_temporaries_removes_orphan_blobs_only(
    s3_storage: S3Factory, s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    storage = s3_storage("pointer")
    stored = storage.store("run-1", "big.bin", write(tmp_path / "big.bin", pseudo_random(6 * 1024 * 1024, seed=12)), "md5")  # type: ignore[attr-defined]
    # What a process killed after its upload but before creating the alias leaves behind:
    s3_server.client().put_object(Bucket=bucket, Key="team/catalog/.objects/blobs/orphan", Body=b"1234567")
    # Too young: its upload may still be in progress; then old: the orphan goes, the named blob stays.
    assert storage.clean_temporaries(older_than_seconds=3600) == 0  # type: ignore[attr-defined]
    assert storage.clean_temporaries(older_than_seconds=-60) == 7  # type: ignore[attr-defined]
    assert len(_blobs(_keys(s3_server, bucket))) == 1
    with storage.open_object("md5", stored.digest) as handle:  # type: ignore[attr-defined]
        assert handle.read() == (tmp_path / "big.bin").read_bytes()


def test_s3_copy_mode_copies_the_blob_of_content_stored_in_pointer_mode(
    s3_storage: S3Factory, s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    source = write(tmp_path / "big.bin", pseudo_random(6 * 1024 * 1024, seed=13))
    s3_storage("pointer").store("run-1", "big.bin", source, "md5")  # type: ignore[attr-defined]
    copying = s3_storage("copy", hash_first=True)
    assert not copying.store("run-2", "big.bin", source, "md5").new  # type: ignore[attr-defined]
    body = s3_server.client().get_object(Bucket=bucket, Key="team/catalog/run-2/big.bin")["Body"].read()
    assert body == source.read_bytes()  # the real bytes, not the alias
