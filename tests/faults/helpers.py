"""Checks shared by the fault tests: is every stored byte whole, does any record lie?

These read the catalog and the run-log store directly from disk (not through runnable), so a bug
in runnable's own readers cannot hide a bug in its writers.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

TEMP_PREFIX = ".runnable-tmp-"
REPO = Path(__file__).resolve().parents[2]


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNABLE_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def write_script(folder: Path, name: str, code: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(code))
    return path


def cli(cwd: Path, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m runnable ARGS`` in a real subprocess."""
    return subprocess.run([sys.executable, "-m", "runnable", *args], cwd=cwd, env=clean_env(**env),
                          capture_output=True, text=True, timeout=timeout, check=False)


def cli_available(*args: str) -> bool:
    """True if ``runnable ARGS --help`` works (a command another part of the project provides)."""
    done = subprocess.run([sys.executable, "-m", "runnable", *args, "--help"], env=clean_env(),
                          capture_output=True, text=True, timeout=60, check=False)
    return done.returncode == 0


@dataclass
class CatalogState:
    """What is on disk: objects by digest, run folders, records, temporaries."""

    objects: dict[str, Path] = field(default_factory=dict)  # digest -> path (md5 only)
    run_files: dict[str, dict[str, Path]] = field(default_factory=dict)  # run id -> rel -> path
    records: dict[str, dict] = field(default_factory=dict)  # run id -> parsed JSON
    temporaries: list[Path] = field(default_factory=list)


def read_state(catalog: Path, store: Path) -> CatalogState:
    state = CatalogState()
    objects = catalog / ".objects"
    if objects.is_dir():
        for dirpath, _dirs, files in os.walk(objects):
            for name in files:
                path = Path(dirpath) / name
                if name.startswith(TEMP_PREFIX) or path.parent.name == "tmp":
                    state.temporaries.append(path)
                    continue
                rel = path.relative_to(objects).parts
                assert len(rel) == 3 and rel[0] == "md5", f"unexpected file in the object store: {path}"
                state.objects[rel[1] + rel[2]] = path
    if catalog.is_dir():
        for run in sorted(catalog.iterdir()):
            if run.name.startswith("."):
                continue
            files: dict[str, Path] = {}
            for dirpath, _dirs, names in os.walk(run):
                for name in names:
                    path = Path(dirpath) / name
                    if name.startswith(TEMP_PREFIX):
                        state.temporaries.append(path)
                    else:
                        files[path.relative_to(run).as_posix()] = path
            state.run_files[run.name] = files
    if store.is_dir():
        for path in sorted(store.iterdir()):
            if path.name.startswith(TEMP_PREFIX):
                state.temporaries.append(path)
            elif path.suffix == ".json" and not path.name.startswith("."):
                state.records[path.stem] = json.loads(path.read_text())
    return state


def assert_nothing_lies(catalog: Path, store: Path) -> CatalogState:
    """The invariants every test ends with, whatever happened before.

    * every object's content hashes to its name;
    * every file visible in a run folder is whole: its hash is the name of a stored object, and
      matches its entry in the run's record when the record lists it;
    * a SUCCESS record lists only files that are present in its run folder with the recorded hash.
    """
    state = read_state(catalog, store)
    for digest, path in state.objects.items():
        assert md5_of(path) == digest, f"object {path} does not match its name"
    for run_id, files in state.run_files.items():
        record = state.records.get(run_id)
        entries = {}
        if record is not None:
            entries = {f["path"]: f for f in record.get("files") or []}
            if record.get("execution_log"):
                log = record["execution_log"]
                entries[log["path"]] = log
        for rel, path in files.items():
            digest = md5_of(path)
            assert digest in state.objects, f"{path} is visible but is not a whole stored object"
            if rel in entries:
                assert entries[rel]["hash"]["md5"] == digest, f"{path} does not match its record"
    for run_id, record in state.records.items():
        if record["status"] != "SUCCESS":
            continue
        files = state.run_files.get(run_id, {})
        for entry in record["files"]:
            if not entry["stored"]:
                continue
            assert entry["path"] in files, f"SUCCESS run {run_id} lists {entry['path']} but it is not stored"
            assert md5_of(files[entry["path"]]) == entry["hash"]["md5"]
            assert entry["hash"]["md5"] in state.objects
    return state


CRASHPOINT = Path(__file__).with_name("crashpoint.py")

STORE_JOB = """\
import sys
from runnable import Catalog, PythonJob

def noop():
    pass

PythonJob(function=noop, catalog=Catalog(put=sys.argv[1:] or ["data/"])).execute()
"""


def start_job(cwd: Path, script: Path, *args: str, crash: bool = False, **env: str) -> subprocess.Popen[str]:
    """Start ``python SCRIPT ARGS`` (through crashpoint.py when ``crash``) in its own process group."""
    prefix = [sys.executable, str(CRASHPOINT)] if crash else [sys.executable]
    return subprocess.Popen([*prefix, str(script), *args], cwd=cwd, env=clean_env(**env), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run_job(cwd: Path, script: Path, *args: str, crash: bool = False, timeout: float = 120,
            **env: str) -> subprocess.CompletedProcess[str]:
    proc = start_job(cwd, script, *args, crash=crash, **env)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def make_tree(root: Path, count: int, size: int = 64, duplicates: int = 0, prefix: str = "data") -> dict[str, str]:
    """``count`` files with distinct content (plus ``duplicates`` copies of file 0); rel -> md5."""
    folder = root / prefix
    folder.mkdir(parents=True, exist_ok=True)
    hashes: dict[str, str] = {}
    for i in range(count):
        sub = folder / f"d{i % 10}"
        sub.mkdir(exist_ok=True)
        body = (f"{prefix}-{i}-".encode() * (size // 8 + 1))[:size]
        (sub / f"f{i}.bin").write_bytes(body)
    for i in range(duplicates):
        (folder / f"dup{i}.bin").write_bytes((folder / "d0" / "f0.bin").read_bytes())
    for path in folder.rglob("*"):
        if path.is_file():
            hashes[path.relative_to(root).as_posix()] = md5_of(path)
    return hashes


def tree_hashes(root: Path, prefix: str = "data") -> dict[str, str]:
    return {p.relative_to(root).as_posix(): md5_of(p) for p in (root / prefix).rglob("*") if p.is_file()}
