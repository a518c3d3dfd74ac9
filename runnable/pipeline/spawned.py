"""Branches in fresh interpreters, for a catalog or run-log store that cannot cross a fork (S3).

The S3 client's runtime (obstore's threads) does not survive ``fork``: a forked branch's first request
would wait for ever. So with S3 each branch of a ``Parallel`` or ``Map`` runs in a new interpreter,
``python -m runnable.pipeline.spawned SPEC RESULT``, at most ``max_workers`` at a time. The child
loads the pipeline's script as ``runnable execute-step`` does (its ``execute()`` calls only hand the
pipeline over), builds the services from the run's configuration file, runs the branch's steps with
the traversal of ``engine.py``, and pickles the branch's outcome into RESULT; the parent folds it in
as it does a forked branch's. Values pass between them pickled: an object of a class defined in the
script itself is found there, since the script is the child's ``__main__`` while the branch runs.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from runnable.pipeline.branches import Died, die_with_parent, guard_group, release
from runnable.pipeline.dsl import Conditional, Loop, Map, Parallel, Pipeline


def run_spawned(specs: list[dict[str, Any]], max_workers: int, scratch: Path) -> list[Any]:
    """Run each branch ``spec`` in its own interpreter; a ``Branch``, or ``Died``, per spec."""
    pending = list(enumerate(specs))
    running: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}
    results: list[Any] = [None] * len(specs)
    try:
        while pending or running:
            while pending and len(running) < max(1, max_workers):
                index, spec = pending.pop(0)
                folder = Path(tempfile.mkdtemp(prefix="spawn-", dir=scratch))
                (folder / "spec.pickle").write_bytes(pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
                sys.stdout.flush()
                sys.stderr.flush()
                child = subprocess.Popen([sys.executable, "-m", "runnable.pipeline.spawned", str(folder / "spec.pickle"),
                                          str(folder / "result.pickle"), str(os.getpid())],
                                         cwd=spec["working_folder"], process_group=0)
                running[index] = (child, folder / "result.pickle")
            index = _wait_any(running)
            child, result_file = running.pop(index)
            results[index] = _read(result_file, child.returncode)
    except BaseException:
        for child, _ in running.values():  # the pipeline is stopping: its branches stop with it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGTERM)
        for child, _ in running.values():
            child.wait()
        raise
    return results


def _wait_any(running: dict[int, tuple[subprocess.Popen[bytes], Path]]) -> int:
    pid, _status = os.waitpid(-1, 0)
    for index, (child, _) in running.items():
        if child.pid == pid:
            child.returncode = os.waitstatus_to_exitcode(_status)
            return index
    return _wait_any(running)  # not one of ours (cannot happen: the pipeline's process starts no other)


def _read(result_file: Path, code: int | None) -> Any:
    try:
        return pickle.loads(result_file.read_bytes())  # noqa: S301 - written by our own child, just now
    except FileNotFoundError:
        return Died(f"its process ended with code {code} and no result")


def branch_of(pipeline: Pipeline, composite: str, key: str) -> Pipeline:
    """The branch ``key`` of the composite step at dotted path ``composite`` (through branches, Map
    items and on_failure paths)."""
    parts = composite.split(".")
    current, index = pipeline, 0
    while True:
        step = next(s for s in current.steps if s.name == parts[index])
        if index == len(parts) - 1:
            if isinstance(step, Parallel | Conditional):
                return step.branches[key]
            assert isinstance(step, Map | Loop)
            return step.branch
        following = parts[index + 1]
        if following == "on_failure" and step.on_failure is not None:
            current = step.on_failure
        elif isinstance(step, Parallel | Conditional):
            current = step.branches[following]
        else:
            assert isinstance(step, Map | Loop)
            current = step.branch
        index += 2


def _child(spec_file: str, result_file: str) -> None:
    from runnable.backends.secrets import Masker
    from runnable.cli.execute import _as_main, _load
    from runnable.config import loading
    from runnable.jobs import JobContext
    from runnable.pipeline import dsl
    from runnable.pipeline.engine import PipelineRunner, Traversal
    from runnable.pipeline.state import Produced
    from runnable.record import RUNNING, RunRecord
    from runnable.run.runner import RunOptions

    spec = pickle.loads(Path(spec_file).read_bytes())  # noqa: S301 - written by the pipeline's process
    script = Path(spec["script"])
    code, attributes = _load(script)
    sys.path.insert(0, os.path.dirname(attributes["__file__"]))
    sys.argv = [str(script)]
    dsl.CAPTURED = []
    # As __main__, as the pipeline's own process ran it: its execute() call, guarded or not, only
    # hands the pipeline over (dsl.CAPTURED), whether at the top or inside main().
    with _as_main({**attributes, "__name__": "__main__"}) as namespace:
        exec(code, namespace)
        captured = dsl.CAPTURED
        dsl.CAPTURED = None
        main = namespace.get("main")
        if not captured and callable(main):
            dsl.CAPTURED = captured
            main()
            dsl.CAPTURED = None
        found = captured[0] if captured else namespace.get("pipeline")
        assert isinstance(found, Pipeline), f"{script} defines no pipeline the branch could be found in"
        configuration = loading.load(spec["config"])
        storage = configuration.storage_service().build()
        store = configuration["run-log-store"].build()
        # The values are in this process's environment (the pipeline's set them); only names travel.
        secrets = {name: os.environ[name] for name in spec["secret_names"] if name in os.environ}
        values = list(secrets.values())
        runner = PipelineRunner(found, storage, store, algorithm=configuration.hash_algorithm,
                                options=RunOptions(secrets=secrets, print_summary=False),
                                working_folder=Path(spec["working_folder"]),
                                make_filter=(lambda: Masker(values)) if values else None)
        scratch = Path(tempfile.mkdtemp(prefix="runnable-branch-"))
        record = RunRecord(run_id=spec["run_id"], status=RUNNING, job={}, start="")
        context = JobContext(parameters=spec["parameters"], environment={}, working_folder=Path(spec["working_folder"]),
                             scratch=scratch)
        traversal = Traversal(runner, record, context)
        traversal.in_child = True
        traversal.produced = Produced(by_path=spec["known"])
        branch = branch_of(found, spec["composite"], spec["key"])
        result = traversal.steps(branch, spec["prefix"], spec["parameters"], [])
        # As engine.branch_work: every version the branch stored, a new one of a known path included.
        result.produced.by_path = {p: v for p, v in result.produced.by_path.items() if spec["known"].get(p) != v}
        temporary = Path(result_file + ".tmp")
        temporary.write_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(temporary, result_file)


if __name__ == "__main__":
    die_with_parent(int(sys.argv[3]))  # as a forked branch does: it never outlives its pipeline,
    _guard = guard_group()  # nor do the commands it started
    _child(sys.argv[1], sys.argv[2])
    release(_guard)
