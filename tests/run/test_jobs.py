"""Python jobs end to end: run ids, store modes, failures and what ``execute()`` returns or raises."""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runnable import Catalog, ConfigurationError, JobFailedError, NotebookJob, PythonJob, RunIdError
from runnable.record import RunRecord
from runnable.run.runid import ADJECTIVES, SURNAMES
from tests.conftest import REPO, run_python

RUN_ID = re.compile(r"([a-z]+)-([a-z]+)-(\d{4})")


def record_of(run_id: str) -> dict[str, Any]:
    return json.loads(Path(f".run_log_store/{run_id}.json").read_text())


def write_outputs() -> None:
    Path("out").mkdir(exist_ok=True)
    Path("out/a.txt").write_text("alpha\n")
    Path("big.bin").write_bytes(bytes(range(256)) * 4096)


# -- run ids -------------------------------------------------------------------------------------


def test_generated_run_id_has_the_documented_form(workdir: Path) -> None:
    record = PythonJob(function=write_outputs).execute()
    adjective, surname, _ = RUN_ID.fullmatch(record.run_id).groups()  # type: ignore[union-attr]
    assert adjective in ADJECTIVES and surname in SURNAMES
    assert Path(f".run_log_store/{record.run_id}.json").is_file()


def test_job_id_names_the_run(workdir: Path) -> None:
    record = PythonJob(function=write_outputs, catalog=Catalog(put=["out/"])).execute(job_id="my-run-1")
    assert record.run_id == "my-run-1"
    assert record_of("my-run-1")["run_id"] == "my-run-1"
    assert Path(".catalog/my-run-1/out/a.txt").read_text() == "alpha\n"


def test_run_id_from_the_environment(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNABLE_RUN_ID", "from-env-7")
    record = PythonJob(function=write_outputs).execute()
    assert record.run_id == "from-env-7"
    assert record.to_dict() == record_of("from-env-7")


def test_reusing_a_run_id_is_refused_and_the_first_run_kept(workdir: Path) -> None:
    calls: list[int] = []
    job = PythonJob(function=lambda: calls.append(1), catalog=Catalog(put=["keep.txt"]))
    Path("keep.txt").write_text("first\n")
    job.execute(job_id="same")
    before = Path(".run_log_store/same.json").read_bytes()
    Path("keep.txt").write_text("second\n")
    with pytest.raises(RunIdError, match="'same' is already used") as caught:
        job.execute(job_id="same")
    assert "choose another id" in str(caught.value)
    assert calls == [1]  # the second run never started
    assert Path(".run_log_store/same.json").read_bytes() == before
    assert Path(".catalog/same/keep.txt").read_text() == "first\n"


@pytest.mark.parametrize("bad", ["../up", "a/b", "-starts-with-dash", "x" * 129, "sp ace"])
def test_malformed_run_ids_are_refused(workdir: Path, bad: str) -> None:
    with pytest.raises(RunIdError, match="not valid"):
        PythonJob(function=write_outputs).execute(job_id=bad)
    assert not Path(".catalog").exists() or not any(Path(".catalog").iterdir())


# -- store modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("store_copy", [True, False])
def test_store_copy_modes_record_md5_of_the_full_content(workdir: Path, store_copy: bool) -> None:
    record = PythonJob(function=write_outputs, catalog=Catalog(put=["out/", "big.bin"], store_copy=store_copy)).execute()
    data = record_of(record.run_id)
    assert data["catalog"]["store_copy"] is store_copy and data["catalog"]["algorithm"] == "md5"
    for entry in data["files"]:
        content = Path(entry["path"]).read_bytes()
        assert entry["hash"] == {"md5": hashlib.md5(content).hexdigest()}
        assert entry["size"] == len(content)
        assert entry["stored"] is store_copy
        copy = Path(".catalog", record.run_id, entry["path"])
        if store_copy:
            assert entry["location"] == copy.as_posix()
            assert copy.read_bytes() == content
        else:
            assert entry["location"] is None
            assert not copy.exists()
    assert Path(".catalog", record.run_id, "write_outputs.execution.log").is_file()


def test_stored_copy_does_not_change_when_the_working_file_does(workdir: Path) -> None:
    record = PythonJob(function=write_outputs, catalog=Catalog(put=["out/a.txt"])).execute()
    Path("out/a.txt").write_text("edited later\n")
    assert Path(".catalog", record.run_id, "out/a.txt").read_text() == "alpha\n"


# -- what execute() returns and the record holds -------------------------------------------------


def test_returns_are_recorded_by_name(workdir: Path) -> None:
    def stats() -> tuple[int, dict[str, float], str]:
        return 3, {"loss": 0.25}, "done"

    record = PythonJob(function=stats, returns=["count", "metrics", "message"]).execute()
    assert record_of(record.run_id)["returns"] == {"count": 3, "metrics": {"loss": 0.25}, "message": "done"}


def test_single_return_and_unserialisable_value(workdir: Path) -> None:
    # A value JSON cannot hold fails the run, naming it (it was once kept as its repr, which lost it).
    with pytest.raises(JobFailedError, match=r"return 'values' is a set.*pickled\('values'\)"):
        PythonJob(function=lambda: {1, 2}, returns=["values"], name="sets").execute()


def test_returns_count_mismatch_fails_the_run(workdir: Path) -> None:
    with pytest.raises(JobFailedError, match=r"returns=\['a', 'b'\]") as caught:
        PythonJob(function=lambda: 1, returns=["a", "b"], name="one").execute()
    assert caught.value.record.status == "FAIL"


def test_constructor_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="callable"):
        PythonJob(function="not a function")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="runnable.Catalog"):
        PythonJob(function=print, catalog=["df.csv"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="store_copy"):
        Catalog(put=["a"], store_copy="no")  # type: ignore[arg-type]



@pytest.mark.parametrize("bad", ["a/b", "../up", "nul\0", "", "lone\ud800"])
def test_a_job_name_that_is_not_one_file_name_is_refused_before_anything_runs(workdir: Path, bad: str) -> None:
    ran: list[int] = []
    with pytest.raises(ConfigurationError, match=re.escape(repr(bad))):
        PythonJob(function=lambda: ran.append(1), name=bad).execute()
    assert ran == [] and not (workdir / ".run_log_store").exists() and not (workdir / ".catalog").exists()
    with pytest.raises(TypeError, match="name"):
        PythonJob(function=print, name=3)  # type: ignore[arg-type]



def test_a_job_name_too_long_for_its_log_file_is_refused_before_anything_runs(workdir: Path) -> None:
    with pytest.raises(ConfigurationError, match="at most 200 bytes"):
        PythonJob(function=print, name="x" * 300)
    assert PythonJob(function=print, name="x" * 200).name == "x" * 200


def test_returns_named_twice_are_refused(workdir: Path) -> None:
    with pytest.raises(ConfigurationError, match="'a' more than once"):
        PythonJob(function=lambda: (1, 2), returns=["a", "a"])


@pytest.mark.parametrize(("make", "names"), [
    (lambda: PythonJob(function=print, returns=5), "returns"),  # type: ignore[arg-type]
    (lambda: PythonJob(function=print, secrets=5), "secrets"),  # type: ignore[arg-type]
    (lambda: PythonJob(function=print, secrets=[5]), "secrets"),  # type: ignore[list-item]
    (lambda: NotebookJob(None), "notebook"),  # type: ignore[arg-type]
    (lambda: NotebookJob("nb.ipynb", kernel=5), "kernel"),  # type: ignore[arg-type]
    (lambda: PythonJob(function=print).execute(parameters_file={"epochs": 3}), "parameters_file"),  # type: ignore[arg-type]
    (lambda: PythonJob(function=print).execute(tags=[1]), "tags"),  # type: ignore[list-item]
])
def test_arguments_of_the_wrong_type_are_refused_by_name(workdir: Path, make: Any, names: str) -> None:
    with pytest.raises(TypeError, match=names):
        make()
    assert not (workdir / ".run_log_store").exists()


def test_a_tag_with_a_comma_is_refused(workdir: Path) -> None:
    with pytest.raises(ConfigurationError, match="tag 'team,ml' holds a comma"):
        PythonJob(function=lambda: None, name="t").execute(tags=["team,ml"])
    assert not (workdir / ".run_log_store").exists()


def test_one_string_is_one_tag_and_blank_tags_are_left_out(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert PythonJob(function=lambda: None, name="t").execute(tags="experiment").tags == ["experiment"]
    monkeypatch.setenv("RUNNABLE_TAGS", " a , ,b")
    assert PythonJob(function=lambda: None, name="t").execute(tags=[" keep ", " "]).tags == ["keep", "a", "b"]
    assert PythonJob(function=lambda: None, name="t").execute(tags=None).tags == ["a", "b"]


# -- failures ------------------------------------------------------------------------------------

FAILING_SCRIPT = """
from pathlib import Path
from runnable import Catalog, PythonJob

def explode():
    Path("partial.txt").write_text("written before the error\\n")
    print("about to fail")
    raise ValueError("bad input row 17")

PythonJob(function=explode, catalog=Catalog(put=["partial.txt"])).execute()
"""


def test_failing_function_records_fail_keeps_outputs_and_exits_non_zero(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(FAILING_SCRIPT)
    done = run_python(script, tmp_path, env={"PYTHONPATH": str(REPO)})
    assert done.returncode == 1
    assert "JobFailedError" in done.stderr and "ValueError: bad input row 17" in done.stderr
    summary = json.loads(done.stdout[done.stdout.index("{\n") :])
    assert summary["status"] == "FAIL"
    assert summary["Output catalog content"] == ["partial.txt"]
    assert summary["error"] == "ValueError: bad input row 17"
    record = json.loads((tmp_path / summary["run_record"]).read_text())
    assert record["status"] == "FAIL" and record["end"] and record["duration_seconds"] >= 0
    assert record["error"]["type"] == "ValueError"
    assert 'raise ValueError("bad input row 17")' in record["error"]["traceback"]
    run_folder = tmp_path / ".catalog" / record["run_id"]
    assert (run_folder / "partial.txt").read_text() == "written before the error\n"
    log = (run_folder / "explode.execution.log").read_text()
    assert "about to fail" in log
    assert "Traceback (most recent call last)" in log and "ValueError: bad input row 17" in log
    # The traceback also reached the console (stderr of the script), not only the log, exactly once:
    # the uncaught JobFailedError adds one line of reason, not the same traceback again.
    assert done.stderr.count('raise ValueError("bad input row 17")') == 1
    # That line says where the log and the record are and how the script exits; no second traceback.
    assert done.stderr.rstrip().splitlines()[-1] == (
        f"JobFailedError: run {record['run_id']} failed: ValueError: bad input row 17; log "
        f".catalog/{record['run_id']}/explode.execution.log, record .run_log_store/{record['run_id']}.json; exiting with code 1")
    assert done.stderr.count("Traceback (most recent call last)") == 1
    assert "runner.py" not in done.stderr and "direct cause" not in done.stderr


def test_failure_in_process_raises_with_the_record(workdir: Path) -> None:
    def broken() -> None:
        raise KeyError("missing column")

    with pytest.raises(JobFailedError, match="KeyError") as caught:
        PythonJob(function=broken).execute(job_id="broken-1")
    assert caught.value.record.run_id == "broken-1"
    assert isinstance(caught.value.error, KeyError)
    assert record_of("broken-1")["status"] == "FAIL"


def test_an_exit_code_attribute_of_the_jobs_own_exception_is_not_taken_for_a_commands(workdir: Path) -> None:
    class Odd(Exception):
        exit_code = object()

    def broken() -> None:
        raise Odd("not a command")

    with pytest.raises(JobFailedError) as caught:
        PythonJob(function=broken).execute(job_id="odd-1")
    assert caught.value.exit_code is None and isinstance(caught.value.error, Odd)
    assert "exit_code" not in record_of("odd-1")["error"]


def test_keyboard_interrupt_is_recorded_and_propagates(workdir: Path) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        PythonJob(function=interrupted).execute(job_id="stopped")
    data = record_of("stopped")
    assert data["status"] == "FAIL" and data["error"]["type"] == "KeyboardInterrupt"
    from runnable.run.runner import summary

    assert summary(RunRecord.from_dict(data), ".run_log_store")["error"] == "KeyboardInterrupt"  # no ': '
    assert "interrupted" in Path(".catalog/stopped/interrupted.execution.log").read_text()


# -- a log file of the same name as a user's file ------------------------------------------------


def test_execution_log_never_hides_a_user_file(workdir: Path) -> None:
    Path("job.execution.log").write_text("mine\n")
    record = PythonJob(function=lambda: print("hi"), name="job", catalog=Catalog(put=["job.execution.log"])).execute()
    assert Path(".catalog", record.run_id, "job.execution.log").read_text() == "mine\n"
    log = Path(".catalog", record.run_id, "job.runnable-execution.log").read_text().splitlines()
    # Besides the job's line, the warning that the user's file is stale, unless it was written within
    # the file clock's tick before the run started (docs/jobs.md): the log holds either, never the file.
    assert [line for line in log if "the record marks it \"stale\"" not in line] == ["hi"]


def test_script_run_from_a_subfolder_uses_the_working_folder(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        from pathlib import Path
        from runnable import Catalog, PythonJob
        PythonJob(function=lambda: Path("x.txt").write_text("x"), name="j", catalog=Catalog(put=["x.txt"])).execute()
    """))
    done = run_python(script, tmp_path / "work", env={"PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "work" / ".run_log_store").glob("*.json"))
    assert not (tmp_path / ".catalog").exists()


def test_no_copy_hash_covers_every_byte(workdir: Path) -> None:
    """Two large files differing in one byte in the middle get different, exact MD5s."""
    data = bytearray(bytes(range(256)) * (24 * 1024))  # 6 MiB
    job = PythonJob(function=lambda: None, name="big", catalog=Catalog(put=["big.bin"], store_copy=False))
    digests = []
    for _ in range(2):
        Path("big.bin").write_bytes(data)
        record = job.execute()
        assert record.files[0].hash == {"md5": hashlib.md5(data).hexdigest()}
        digests.append(record.files[0].digest)
        data[len(data) // 2] ^= 0xFF
    assert digests[0] != digests[1]
