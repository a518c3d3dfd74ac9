"""One contract every run-log store passes: the file-system folder and S3 (records as JSON objects)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from runnable.backends.memory import MemoryRunLogStore
from runnable.backends.protocols import IndexedRunLogStore, RunLogStore
from runnable.backends.runlog import FileSystemRunLogStore
from runnable.errors import RecordError, RunNotFoundError
from runnable.record import FileEntry, RunRecord

from .conftest import S3Server


@pytest.fixture(params=["memory", "file-system", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RunLogStore:
    if request.param == "memory":
        return MemoryRunLogStore()
    if request.param == "file-system":
        return FileSystemRunLogStore(tmp_path / ".run_log_store")
    from runnable.backends.s3.runlog import S3RunLogStore

    server: S3Server = request.getfixturevalue("s3_server")
    bucket: str = request.getfixturevalue("bucket")
    return S3RunLogStore(bucket, "team/runs", endpoint_url=server.endpoint)


def record(run_id: str, status: str = "RUNNING", **extra: object) -> RunRecord:
    return RunRecord(run_id=run_id, status=status, job={"kind": "python", "name": "f"},
                     start="2025-01-01T00:00:00.000+00:00", **extra)  # type: ignore[arg-type]


def test_satisfies_the_protocol(store: RunLogStore) -> None:
    assert isinstance(store, RunLogStore)
    assert isinstance(store, IndexedRunLogStore)


def test_create_is_exclusive(store: RunLogStore) -> None:
    assert store.create(record("brave-gauss-0001", tags=["first"]))
    assert not store.create(record("brave-gauss-0001", tags=["second"]))
    assert store.get("brave-gauss-0001").tags == ["first"]  # the loser wrote nothing


def test_put_get_round_trip_and_replace(store: RunLogStore) -> None:
    assert store.create(record("r1"))
    entry = FileEntry("data/df.csv", 8, {"md5": "0" * 32}, True, "somewhere/r1/data/df.csv")
    final = record("r1", status="SUCCESS", files=[entry], execution_log=entry, parameters={"x": 1.5, "s": "é"})
    store.put(final)
    back = store.get("r1")
    assert back.to_dict() == final.to_dict()


def test_missing_run(store: RunLogStore) -> None:
    with pytest.raises(RunNotFoundError) as caught:
        store.get("no-such-run")
    assert isinstance(caught.value, KeyError)
    assert "no-such-run" in str(caught.value)
    assert not store.exists("no-such-run")
    store.delete("no-such-run")  # no error


def test_ids_exists_delete(store: RunLogStore) -> None:
    assert sorted(store.iter_ids()) == []
    for run_id in ("a1", "b2", "c3"):
        assert store.create(record(run_id))
    assert sorted(store.iter_ids()) == ["a1", "b2", "c3"]
    assert store.exists("b2")
    store.delete("b2")
    assert not store.exists("b2")
    assert sorted(store.iter_ids()) == ["a1", "c3"]


def test_refuses_malformed_run_ids(store: RunLogStore) -> None:
    with pytest.raises(RecordError):
        store.get("../../etc/passwd")


def test_racing_creates_of_one_id_have_exactly_one_winner(store: RunLogStore) -> None:
    results: dict[int, bool] = {}
    barrier = threading.Barrier(8)

    def one(i: int) -> None:
        barrier.wait()
        results[i] = store.create(record("contested-id-0001", tags=[f"writer-{i}"]))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [i for i, won in results.items() if won]
    assert len(winners) == 1
    assert store.get("contested-id-0001").tags == [f"writer-{winners[0]}"]


def test_index_primitives(store: RunLogStore) -> None:
    assert isinstance(store, IndexedRunLogStore)
    assert store.read_index() is None
    store.write_index(b'{"v": 1}')
    assert store.read_index() == b'{"v": 1}'
    assert list(store.iter_ids()) == []  # the index is never mistaken for a run record
    store.create(record("r1"))
    before = dict(store.iter_stamps())
    store.put(record("r1", status="SUCCESS", end="2025-01-01T00:00:01.000+00:00"))
    after = dict(store.iter_stamps())
    assert list(after) == ["r1"] and after["r1"] != before["r1"]


# -- S3 only -------------------------------------------------------------------------------------


def test_s3_record_key_and_unreadable_records(s3_server: S3Server, bucket: str) -> None:
    from runnable.backends.s3.runlog import S3RunLogStore

    store = S3RunLogStore(bucket, "team/runs", endpoint_url=s3_server.endpoint)
    assert store.location == f"s3://{bucket}/team/runs"
    store.create(record("r1"))
    client = s3_server.client()
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["team/runs/r1.json"]
    client.put_object(Bucket=bucket, Key="team/runs/r2.json", Body=b'{"run_id": "r2", "stat')
    with pytest.raises(RecordError, match="not valid JSON"):
        store.get("r2")
    client.put_object(Bucket=bucket, Key="team/runs/r3.json", Body=client.get_object(
        Bucket=bucket, Key="team/runs/r1.json")["Body"].read())
    with pytest.raises(RecordError, match="names run 'r1'"):
        store.get("r3")


def test_s3_records_and_catalog_can_share_a_prefix(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    from runnable.backends.s3.catalog import S3Storage
    from runnable.backends.s3.runlog import S3RunLogStore

    store = S3RunLogStore(bucket, "shared", endpoint_url=s3_server.endpoint)
    catalog = S3Storage(bucket, "shared", endpoint_url=s3_server.endpoint)
    (tmp_path / "a.json").write_text("{}")
    catalog.store("r1", "a.json", tmp_path / "a.json", "md5")  # a run file that ends in .json
    store.create(record("r1"))
    assert list(store.iter_ids()) == ["r1"]
