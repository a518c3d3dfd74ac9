"""Catalog put patterns: what each form selects, what is refused, and what is never read."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runnable import Catalog, JobFailedError, PatternError, PythonJob
from runnable.files.patterns import expand, matches
from tests.conftest import REPO, run_python


def make(root: Path, *rels: str) -> None:
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {rel}\n")


def selected(root: Path, *patterns: str) -> list[str]:
    return [m.rel for m in expand(list(patterns), root).files]


def run(put: list[str], function: Callable[[], Any] = lambda: None, **catalog: Any) -> dict[str, Any]:
    """Run a job in the current folder; return its record as JSON data (also when it failed)."""
    job = PythonJob(function=function, catalog=Catalog(put=put, **catalog), name="job")
    try:
        record = job.execute()
    except JobFailedError as exc:
        record = exc.record
    return json.loads(Path(f".run_log_store/{record.run_id}.json").read_text())


def stored_files(record: dict[str, Any]) -> list[str]:
    folder = Path(".catalog") / record["run_id"]
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def log_text(record: dict[str, Any]) -> str:
    return Path(".catalog", record["run_id"], "job.execution.log").read_text()


@pytest.fixture
def tree(workdir: Path) -> Path:
    make(
        workdir,
        "df.csv", "notes.txt", "a1.txt", "a2.txt", "ab.txt", "b1.txt",
        "outputs/top.txt", "outputs/deep/er/file.bin",
        "output/a.csv", "output/x/y/b.csv", "output/x/c.txt",
        "plots/p1.png", "plots/sub/p2.png",
    )
    return workdir


# -- what each form selects ----------------------------------------------------------------------


def test_exact_file(tree: Path) -> None:
    assert selected(tree, "df.csv") == ["df.csv"]
    assert selected(tree, "./outputs/top.txt") == ["outputs/top.txt"]


@pytest.mark.parametrize("pattern", ["outputs", "outputs/", "./outputs//"])
def test_folder_selects_everything_below_with_relative_paths(tree: Path, pattern: str) -> None:
    assert selected(tree, pattern) == ["outputs/top.txt", "outputs/deep/er/file.bin"]


def test_star_stays_within_one_folder(tree: Path) -> None:
    assert selected(tree, "plots/*.png") == ["plots/p1.png"]
    assert selected(tree, "*.csv") == ["df.csv"]


def test_question_mark_and_classes(tree: Path) -> None:
    assert selected(tree, "a?.txt") == ["a1.txt", "a2.txt", "ab.txt"]
    assert selected(tree, "a[0-9].txt") == ["a1.txt", "a2.txt"]
    assert selected(tree, "[ab]1.txt") == ["a1.txt", "b1.txt"]
    assert selected(tree, "a[!0-9].txt") == ["ab.txt"]


def test_double_star_is_zero_or_more_folders(tree: Path) -> None:
    assert selected(tree, "output/**/*.csv") == ["output/a.csv", "output/x/y/b.csv"]
    assert selected(tree, "**/*.png") == ["plots/p1.png", "plots/sub/p2.png"]
    assert selected(tree, "output/**") == ["output/a.csv", "output/x/c.txt", "output/x/y/b.csv"]


def test_glob_matching_a_folder_takes_its_files(tree: Path) -> None:
    assert selected(tree, "out*") == [
        "output/a.csv", "output/x/c.txt", "output/x/y/b.csv", "outputs/top.txt", "outputs/deep/er/file.bin",
    ]


def test_matches_agrees_with_expand() -> None:
    assert matches("output/**/*.csv", "output/a.csv")
    assert matches("output/**/*.csv", "output/x/y/b.csv")
    assert not matches("output/**/*.csv", "outputs/a.csv")
    assert not matches("plots/*.png", "plots/sub/p2.png")
    assert matches("outputs/", "outputs/a/b.txt")


def test_overlapping_patterns_store_each_file_once(tree: Path) -> None:
    record = run(["outputs/", "outputs/top.txt", "**/*.txt", "outputs/deep"])
    paths = [f["path"] for f in record["files"]]
    assert len(paths) == len(set(paths))
    assert paths[:2] == ["outputs/top.txt", "outputs/deep/er/file.bin"]
    assert "output/x/c.txt" in paths and "notes.txt" in paths
    assert record["status"] == "SUCCESS"


def test_files_land_at_the_same_relative_path(tree: Path) -> None:
    record = run(["outputs/", "output/**/*.csv"])
    assert stored_files(record) == sorted(
        ["job.execution.log", "outputs/top.txt", "outputs/deep/er/file.bin", "output/a.csv", "output/x/y/b.csv"]
    )
    for rel in ["outputs/deep/er/file.bin", "output/x/y/b.csv"]:
        assert (Path(".catalog", record["run_id"], rel)).read_bytes() == (tree / rel).read_bytes()


def test_catalog_and_run_log_folders_are_never_selected(tree: Path) -> None:
    run(["df.csv"])
    record = run(["**/*"])
    paths = [f["path"] for f in record["files"]]
    assert not any(p.startswith((".catalog", ".run_log_store")) for p in paths)
    assert "df.csv" in paths


# -- failures and refusals -----------------------------------------------------------------------


def test_pattern_matching_nothing_fails_the_job_but_keeps_the_rest(tree: Path) -> None:
    record = run(["df.csv", "missing/*.csv", "outputs/"])
    assert record["status"] == "FAIL"
    assert "missing/*.csv" in record["error"]["message"]
    assert record["error"]["type"] == "PatternError"
    assert [f["path"] for f in record["files"]] == ["df.csv", "outputs/top.txt", "outputs/deep/er/file.bin"]
    assert log_text(record).count("put pattern 'missing/*.csv' matched no file") == 1


def test_pattern_matching_nothing_raises_from_execute(workdir: Path) -> None:
    job = PythonJob(function=lambda: None, catalog=Catalog(put=["nothing.txt"]))
    with pytest.raises(JobFailedError, match="nothing.txt"):
        job.execute()


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("/etc/passwd", "absolute"),
        ("../x", "'..'"),
        ("a/../../x", "'..'"),
        ("a/../b", "'..'"),
        ("~/secrets", "'~'"),
        ("~", "'~'"),
        ("", "empty"),
        (".", "working folder itself"),
        ("./", "working folder itself"),
        ("./~", "'~'"),
    ],
)
def test_bad_patterns_are_refused_when_the_catalog_is_built(workdir: Path, pattern: str, reason: str) -> None:
    with pytest.raises(PatternError, match=reason) as caught:
        Catalog(put=["df.csv", pattern])
    assert repr(pattern) in str(caught.value)
    if reason in ("absolute", "'..'", "'~'"):
        assert "relative to the working folder" in str(caught.value)


def test_a_bad_pattern_stops_a_script_before_its_job_runs(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        from pathlib import Path
        from runnable import Catalog, PythonJob

        def work():
            Path("ran.txt").write_text("the job ran")

        PythonJob(function=work, catalog=Catalog(put=["../outside.txt"])).execute()
    """))
    done = run_python(script, tmp_path)
    assert done.returncode != 0
    assert "PatternError" in done.stderr and "../outside.txt" in done.stderr
    assert not (tmp_path / "ran.txt").exists()
    assert not (tmp_path / ".run_log_store").exists()


def test_a_string_instead_of_a_list_is_refused(workdir: Path) -> None:
    with pytest.raises(PatternError, match=r"put=\['df.csv'\]"):
        Catalog(put="df.csv")  # type: ignore[arg-type]


# -- links and special files ---------------------------------------------------------------------


def test_symlink_out_of_the_working_folder_is_not_followed(tmp_path: Path, workdir: Path) -> None:
    outside = tmp_path / "outside"
    make(outside, "secret.txt", "dir/inner.txt")
    make(workdir, "results/ok.txt")
    (workdir / "results" / "leak.txt").symlink_to(outside / "secret.txt")
    (workdir / "results" / "leakdir").symlink_to(outside / "dir")
    make(workdir, "inside.txt")
    (workdir / "results" / "alias.txt").symlink_to(workdir / "inside.txt")
    record = run(["results/"])
    assert record["status"] == "SUCCESS"
    paths = [f["path"] for f in record["files"]]
    assert paths == ["results/alias.txt", "results/ok.txt"]  # a link that stays inside is stored
    assert {s["path"] for s in record["skipped"]} == {"results/leak.txt", "results/leakdir"}
    log = log_text(record)
    assert "warning: not storing 'results/leak.txt'" in log and "outside the working folder" in log
    assert not any("secret" in p or "inner" in p for p in stored_files(record))


def test_direct_symlink_pattern_out_of_the_working_folder_fails(tmp_path: Path, workdir: Path) -> None:
    make(tmp_path, "secret.txt")
    (workdir / "link.txt").symlink_to(tmp_path / "secret.txt")
    record = run(["link.txt"])
    assert record["status"] == "FAIL" and record["files"] == []
    assert "link.txt" in record["error"]["message"]


def test_symlink_loop_does_not_hang(workdir: Path) -> None:
    make(workdir, "out/a.txt")
    (workdir / "out" / "loop").symlink_to(workdir / "out")
    record = run(["out/", "**/*.txt"])
    assert [f["path"] for f in record["files"]] == ["out/a.txt"]


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A folder with a short path: AF_UNIX socket paths are limited to about 107 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="rn-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_fifo_and_socket_are_skipped_unread(short_tmp: Path) -> None:
    """A FIFO nobody writes to would block a reader forever: the run must finish anyway."""
    make(short_tmp, "out/data.txt")
    os.mkfifo(short_tmp / "out" / "pipe")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(short_tmp / "out" / "sock"))
    try:
        code = (
            "from runnable import Catalog, PythonJob\n"
            "PythonJob(function=lambda: None, name='job', catalog=Catalog(put=['out/', 'out/pipe'])).execute()\n"
        )
        done = run_python(code, short_tmp, env={"PYTHONPATH": str(REPO)}, timeout=60)
    finally:
        server.close()
    summary = json.loads(done.stdout[done.stdout.index("{\n") :])
    record = json.loads((short_tmp / summary["run_record"]).read_text())
    # 'out/pipe' named alone matches only a FIFO, so that pattern stored nothing: the run fails.
    assert record["status"] == "FAIL" and "out/pipe" in record["error"]["message"]
    assert [f["path"] for f in record["files"]] == ["out/data.txt"]
    reasons = {s["path"]: s["reason"] for s in record["skipped"]}
    assert "FIFO" in reasons["out/pipe"] and "socket" in reasons["out/sock"]
    log = (short_tmp / ".catalog" / record["run_id"] / "job.execution.log").read_text()
    assert "warning: not storing 'out/pipe'" in log and "warning: not storing 'out/sock'" in log
    assert stat.S_ISFIFO(os.lstat(short_tmp / "out" / "pipe").st_mode)


def test_device_file_is_skipped(workdir: Path) -> None:
    (workdir / "dev").mkdir()
    (workdir / "dev" / "null").symlink_to("/dev/null")  # a link out of the folder, to a device
    make(workdir, "dev/real.txt")
    record = run(["dev/"])
    assert [f["path"] for f in record["files"]] == ["dev/real.txt"]
    assert [s["path"] for s in record["skipped"]] == ["dev/null"]


# -- unreadable files ----------------------------------------------------------------------------

UNREADABLE_JOB = """
from pathlib import Path
from runnable import Catalog, PythonJob

def work():
    Path("out").mkdir(exist_ok=True)
    Path("out/fine.txt").write_text("fine\\n")

PythonJob(function=work, name="job", catalog=Catalog(put=["out/"])).execute()
"""


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder every user can enter (pytest's own tmp folders are private to their owner)."""
    folder = Path(tempfile.mkdtemp(prefix="runnable-perm-", dir="/tmp"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_unreadable_file_fails_the_job_naming_it(shared_tmp: Path) -> None:
    make(shared_tmp, "out/secret.txt")
    (shared_tmp / "out").chmod(0o777)
    (shared_tmp / "out" / "secret.txt").chmod(0o000)
    script = shared_tmp / "job.py"
    script.write_text(UNREADABLE_JOB)
    script.chmod(0o644)
    if os.geteuid() == 0:
        # root reads any file whatever its mode: run the job as the unprivileged user 'nobody'.
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable to the job")
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, str(script)]
    else:
        cmd = [sys.executable, str(script)]
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    env.update(PYTHONPATH=str(REPO), HOME=str(shared_tmp))
    done = subprocess.run(cmd, cwd=shared_tmp, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0, done.stdout + done.stderr
    summary = json.loads(done.stdout[done.stdout.index("{\n") :])
    record = json.loads((shared_tmp / summary["run_record"]).read_text())
    assert record["status"] == "FAIL"
    assert "out/secret.txt" in record["error"]["message"] and "ermission denied" in record["error"]["message"]
    assert [f["path"] for f in record["files"]] == ["out/fine.txt"]
    run_folder = shared_tmp / ".catalog" / record["run_id"]
    assert not (run_folder / "out" / "secret.txt").exists()
    tmp_folder = shared_tmp / ".catalog" / ".objects" / "tmp"
    leftovers = list(tmp_folder.iterdir()) if tmp_folder.exists() else []
    assert leftovers == []  # nothing half-copied left behind
    log = (run_folder / "job.execution.log").read_text()
    assert "out/secret.txt" in log


def test_excluded_folders_are_never_entered_however_they_are_named(tmp_path: Path) -> None:
    make(tmp_path, "data/a.txt", "store/objects/x", "runs/r.json", "data/deep/store/kept.txt")
    (tmp_path / "alias").symlink_to(tmp_path / "store")  # the exclusion named through a link
    selection = expand(["**"], tmp_path, [tmp_path / "alias", tmp_path / "runs", tmp_path / "missing"])
    assert [m.rel for m in selection.files] == ["data/a.txt", "data/deep/store/kept.txt"]
    assert [s.rel for s in selection.skipped] == ["alias"]  # a link to a folder: never followed


@pytest.mark.skipif(shutil.which("unshare") is None or subprocess.run(
    ["unshare", "-rm", "true"], capture_output=True, check=False).returncode != 0,
    reason="needs unshare -rm (user and mount namespaces) to mount a folder without privileges")
def test_an_excluded_folder_that_is_a_mount_point_is_never_entered(tmp_path: Path) -> None:
    # The Kubernetes executor mounts the catalog volume at <working folder>/.catalog. The inode a
    # folder listing gives for a mount point is the one of the folder underneath, not the volume's.
    make(tmp_path, "out.txt")
    (tmp_path / ".catalog").mkdir()
    script = (f"from pathlib import Path; from runnable.files.patterns import expand; "
              f"w = Path({str(tmp_path)!r}); (w / '.catalog' / 'obj').write_text('x'); "
              f"print([m.rel for m in expand(['**'], w, [w / '.catalog']).files])")
    done = subprocess.run(["unshare", "-rm", "sh", "-c",
                           f'mount -t tmpfs tmpfs "{tmp_path}/.catalog" && "{sys.executable}" -c "$0"', script],
                          capture_output=True, text=True, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "['out.txt']"
