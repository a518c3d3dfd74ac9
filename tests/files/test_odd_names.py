"""Names that used to break a run: file names that are not UTF-8 (the record could not be written, so
the run stayed RUNNING) and user files named like the execution log's fallback (overwritten)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runnable.backends.runlog import decode, encode
from runnable.files.patterns import expand
from runnable.record import FileEntry, RunRecord
from tests.conftest import REPO, run_cli

BAD = os.fsdecode(b"\xff")  # how Python holds the byte 0xff of a name that is not UTF-8: '\udcff'
BAD_FE = os.fsdecode(b"\xfe")


def run_bytes(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Like ``run_cli``, but the output stays bytes: it may hold the raw bytes of odd names."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(REPO)
    return subprocess.run(list(args), cwd=cwd, env=full_env, capture_output=True, timeout=120, check=False)


def summary_of(stdout: str | bytes) -> dict[str, Any]:
    text = stdout.decode("utf-8", "replace") if isinstance(stdout, bytes) else stdout
    summary: dict[str, Any] = json.loads(text[text.index("{\n") :])
    return summary


def record_file(folder: Path, run_id: str) -> dict[str, Any]:
    data = (folder / ".run_log_store" / f"{run_id}.json").read_bytes()
    data.decode("utf-8")  # strict: the record is valid UTF-8
    parsed: dict[str, Any] = json.loads(data)
    return parsed


# -- names that are not UTF-8 are skipped ---------------------------------------------------------

WRITE_OUT = """
from runnable import Catalog, PythonJob

def make():
    print("made")

PythonJob(function=make, catalog=Catalog(put={put!r})).execute(job_id="odd-1")
"""


def _make_bad_tree(root: Path) -> None:
    (root / "out").mkdir()
    (root / "out" / "a.txt").write_text("alpha\n")
    (root / "out" / "b.txt").write_text("beta\n")
    fd = os.open(os.fsencode(root) + b"/out/\xff_bad", os.O_CREAT | os.O_WRONLY)
    os.write(fd, b"odd\n")
    os.close(fd)
    os.mkdir(os.fsencode(root) + b"/out/\xfe_dir")
    for name in (b"one.txt", b"two.txt"):
        with open(os.fsencode(root) + b"/out/\xfe_dir/" + name, "wb") as handle:
            handle.write(b"inside\n")


def test_a_file_name_that_is_not_utf8_is_skipped_and_the_run_succeeds(workdir: Path) -> None:
    """Failed before the fix: UnicodeEncodeError while writing the record, the run left RUNNING."""
    _make_bad_tree(workdir)
    (workdir / "job.py").write_text(WRITE_OUT.format(put=["out/"]))
    done = run_cli(workdir, "execute-job", "job.py")
    assert done.returncode == 0, done.stderr
    assert "UnicodeEncodeError" not in done.stderr
    summary = summary_of(done.stdout)
    assert summary["status"] == "SUCCESS"
    assert summary["Output catalog content"] == ["out/a.txt", "out/b.txt"]
    record = record_file(workdir, "odd-1")
    assert record["status"] == "SUCCESS" and record["end"]
    # The file and the folder (once, not once per file in it), shown with \xff escapes.
    assert [s["path"] for s in record["skipped"]] == ["out/\\xfe_dir", "out/\\xff_bad"]
    for skip in record["skipped"]:
        assert "not valid UTF-8" in skip["reason"] and "rename it" in skip["reason"]
    assert "runnable: warning: not storing 'out/\\\\xff_bad': its path is not valid UTF-8 (byte 0xff)" in done.stderr
    run_folder = workdir / ".catalog" / "odd-1"
    assert (run_folder / "out" / "a.txt").read_text() == "alpha\n"
    assert (run_folder / "out" / "b.txt").read_text() == "beta\n"
    assert sorted(os.listdir(run_folder / "out")) == ["a.txt", "b.txt"]
    shown = run_cli(workdir, "runs", "show", "odd-1")
    assert shown.returncode == 0, shown.stderr
    assert "SUCCESS" in shown.stdout
    verify = run_cli(workdir, "catalog", "verify", "odd-1")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_glob_below_a_folder_that_is_not_utf8_skips_what_it_selects(workdir: Path) -> None:
    _make_bad_tree(workdir)
    selection = expand(["**/*.txt"], workdir)
    assert [m.rel for m in selection.files] == ["out/a.txt", "out/b.txt"]
    assert [s.rel for s in selection.skipped] == ["out/\\xfe_dir/one.txt", "out/\\xfe_dir/two.txt"]
    assert all("byte 0xfe" in s.reason for s in selection.skipped)


def test_a_pattern_naming_only_a_file_that_is_not_utf8_fails_the_run_and_says_why(workdir: Path) -> None:
    _make_bad_tree(workdir)
    (workdir / "job.py").write_text(WRITE_OUT.format(put=["out/a.txt", "out/" + BAD + "_bad"]))
    done = run_bytes(workdir, sys.executable, "-m", "runnable", "execute-job", "job.py")
    assert done.returncode == 1, done.stderr
    assert b"UnicodeEncodeError" not in done.stderr
    assert b"its path is not valid UTF-8 (byte 0xff)" in done.stderr
    record = record_file(workdir, "odd-1")
    assert record["status"] == "FAIL" and "matched no file" in record["error"]["message"]
    assert [f["path"] for f in record["files"]] == ["out/a.txt"]
    assert [s["path"] for s in record["skipped"]] == ["out/\\xff_bad"]


def test_ascii_and_utf8_names_are_still_selected(workdir: Path) -> None:
    for name in ("plain.txt", "café.txt", "日本.txt", "emoji-😀.txt"):
        (workdir / name).write_text(name)
    selection = expand(["*.txt"], workdir)
    assert sorted(m.rel for m in selection.files) == sorted(["plain.txt", "café.txt", "日本.txt", "emoji-😀.txt"])
    assert selection.skipped == []


def test_a_file_whose_name_starts_with_a_tilde_is_stored_and_its_record_reads_back(workdir: Path) -> None:
    """'~lock.txt' (an office suite's lock file) is a name, not a home folder: the record of a run
    that stored it must list, show and restore like any other."""
    (workdir / "~lock.txt").write_text("lock")
    (workdir / "notes.txt").write_text("notes")
    (workdir / "~cache").mkdir()
    (workdir / "~cache" / "old.txt").write_text("skipped, with a reason")
    script = workdir / "job.py"
    script.write_text("from runnable import Catalog, PythonJob\n"
                      "PythonJob(function=print, name='j', catalog=Catalog(put=['**/*.txt'])).execute(job_id='tilde-run')\n")
    done = subprocess.run([sys.executable, str(script)], cwd=workdir, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    listed = run_cli(workdir, "runs", "list")
    assert "tilde-run" in listed.stdout and "UNREADABLE" not in listed.stdout, listed.stdout
    restored = run_cli(workdir, "catalog", "get", "tilde-run", "--to", "back")
    assert restored.returncode == 0, restored.stderr
    assert (workdir / "back" / "~lock.txt").read_text() == "lock"
    named = run_cli(workdir, "catalog", "get", "tilde-run", "~lock.txt", "--to", "named")  # by its name too
    assert named.returncode == 0, named.stderr
    assert [p.name for p in (workdir / "named").iterdir()] == ["~lock.txt"]
    assert "not storing '~cache/old.txt': its first folder '~cache' reads as a home folder" in done.stderr
    assert not (workdir / "back" / "~cache").exists()


# -- writing a record never fails on such text ----------------------------------------------------


def _odd_record() -> RunRecord:
    return RunRecord(
        run_id="odd-2",
        status="FAIL",
        job={"kind": "python", "name": "f", "file": f"/tmp/w{BAD}/job.py"},
        start="2026-01-01T00:00:00.000+00:00",
        parameters={"label": f"x{BAD}y", f"key{BAD}": [f"\\{BAD}", "\\udcff", "ok"]},
        environment={"argv": ["job.py", f"arg{BAD}"], "working_folder": f"/tmp/w{BAD}"},
        files=[FileEntry(f"dir{BAD}/a.txt", 1, {"md5": "0" * 32}, True, f".catalog/odd-2/dir{BAD}/a.txt")],
        error={"type": "ValueError", "message": f"bad name {BAD}", "traceback": f"File \"/tmp/w{BAD}/job.py\"\n"},
    )


def test_a_record_holding_surrogates_is_written_as_utf8_and_reads_back_the_same() -> None:
    """Failed before the fix: encode() raised UnicodeEncodeError (surrogates not allowed)."""
    record = _odd_record()
    data = encode(record)
    text = data.decode("utf-8")  # strict: valid UTF-8
    assert "\\udcff" in text  # the JSON escape, which json reads back as the character
    assert decode(data, "test").to_dict() == record.to_dict()
    # A backslash just before the odd character stays a backslash; the text '\udcff' stays text.
    assert json.loads(data)["parameters"][f"key{BAD}"] == [f"\\{BAD}", "\\udcff", "ok"]


def test_a_record_with_valid_text_is_encoded_as_before() -> None:
    record = _odd_record()
    record.parameters = {"label": "café 😀"}
    record.environment = {}
    record.job = {"kind": "python"}
    record.files = []
    record.error = None
    assert encode(record) == json.dumps(record.to_dict(), indent=2, ensure_ascii=False).encode() + b"\n"


ODD_JOB = """
import os
from runnable import PythonJob

def f(label: str):
    print("label", ascii(label))
    if label.startswith("fail"):
        raise ValueError("bad name " + label + " " + os.fsdecode(b"\\xfe"))

PythonJob(function=f).execute(job_id={run_id!r})
"""


@pytest.mark.parametrize(("label", "status", "code"), [("ok", "SUCCESS", 0), ("fail", "FAIL", 1)])
def test_a_run_with_non_utf8_argv_parameter_folder_and_error_ends_with_a_final_record(
        tmp_path: Path, label: str, status: str, code: int) -> None:
    """Failed before the fix: the run ended in UnicodeEncodeError and its record stayed RUNNING."""
    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/w\xffdir"))
    folder.mkdir()
    run_id = f"odd-{label}"
    (folder / "job.py").write_text(ODD_JOB.format(run_id=run_id))
    done = run_bytes(folder, sys.executable, "job.py", f"arg{BAD}", env={"RUNNABLE_PRM_label": f"{label}{BAD}"})
    assert done.returncode == code, done.stderr
    assert b"UnicodeEncodeError" not in done.stderr
    assert summary_of(done.stdout)["status"] == status
    record = record_file(folder, run_id)
    assert record["status"] == status and record["end"]
    assert record["environment"]["argv"] == ["job.py", f"arg{BAD}"]
    assert record["environment"]["working_folder"] == str(folder)
    assert record["parameters"]["label"] == f"{label}{BAD}"
    if status == "FAIL":
        assert record["error"]["message"] == f"bad name fail{BAD} {BAD_FE}"
    shown = run_bytes(folder, sys.executable, "-m", "runnable", "runs", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert status.encode() in shown.stdout
    listed = run_bytes(folder, sys.executable, "-m", "runnable", "runs", "list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[1] for line in listed.stdout.splitlines() if line.startswith(run_id.encode())] == [
        status.encode()]


# -- the execution log never takes a user's name -------------------------------------------------


@pytest.mark.parametrize(("files", "log_name"), [
    (["shell.execution.log", "shell.runnable-execution.log"], "shell.runnable-execution-2.log"),
    (["shell.execution.log/inner.txt"], "shell.runnable-execution.log"),
    (["shell.execution.log", "shell.runnable-execution.log/deep/inner.txt"], "shell.runnable-execution-2.log"),
    (["shell.execution.log", "shell.runnable-execution.log", "shell.runnable-execution-2.log"],
     "shell.runnable-execution-3.log"),
])
@pytest.mark.parametrize("kind", ["shell", "python"])
def test_the_execution_log_takes_a_free_name(workdir: Path, files: list[str], log_name: str, kind: str) -> None:
    """Failed before the fix: the first case reported the user's fallback-named file CORRUPT in
    verify (overwritten by the log in the run folder); the second failed with IsADirectoryError."""
    for rel in files:
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_text(f"user's {rel}\n")
    put = sorted({rel.split("/")[0] for rel in files})
    job = (
        f'ShellJob(command="echo hello from the job", catalog=Catalog(put={put!r}))' if kind == "shell" else
        f'PythonJob(function=lambda: print("hello from the job"), name="shell", catalog=Catalog(put={put!r}))'
    )
    (workdir / "job.py").write_text(textwrap.dedent(f"""
        from runnable import Catalog, PythonJob, ShellJob
        {job}.execute(job_id="names-1")
    """))
    done = run_cli(workdir, "execute-job", "job.py")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = summary_of(done.stdout)
    assert summary["status"] == "SUCCESS"
    assert summary["execution_log"] == f".catalog/names-1/{log_name}"
    run_folder = workdir / ".catalog" / "names-1"
    for rel in files:
        assert (run_folder / rel).read_text() == f"user's {rel}\n"
    assert "hello from the job" in (run_folder / log_name).read_text()
    record = record_file(workdir, "names-1")
    assert record["execution_log"]["path"] == log_name
    assert sorted(f["path"] for f in record["files"]) == sorted(files)
    verify = run_cli(workdir, "catalog", "verify", "names-1")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "CORRUPT" not in verify.stdout
