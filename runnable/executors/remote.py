"""What the container and Kubernetes executors share: handing a run to another process.

The process that calls ``execute()`` (the *outer* process) does not run the job. It

1. chooses the run id (the one asked for, or a fresh one free in the run-log store it can see);
2. names the script to run again inside (the file that called ``execute()``);
3. starts ``runnable execute-job SCRIPT --run-id ID --config FILE`` elsewhere, with
   ``RUNNABLE_IN_EXECUTOR=1`` so that the inner process runs the job itself (executor ``local``)
   and reads its secrets from the environment the outer process filled;
4. records the outcome: the inner process writes the run record; the outer process adds how the
   container or pod ended, marks a run that was killed mid-way ``FAIL``, and writes a ``FAIL``
   record for a run that never started (image missing, engine not running).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runnable import params as _params
from runnable.config.loading import LOCATION_KEYS
from runnable.errors import ConfigurationError, JobFailedError, RecordError, RunIdError
from runnable.record import FAIL, RUNNING, RunRecord, check_run_id
from runnable.run import environment as _environment
from runnable.run import runid

if TYPE_CHECKING:
    from runnable.backends.protocols import RunLogStore
    from runnable.config.loading import Configuration
    from runnable.jobs import BaseJob
    from runnable.run.runner import RunOptions

# Environment variables every inner process gets, by value (nothing secret).
INNER_ENV = _environment.INNER_PROCESS_ENV


def dry_run_requested(configured: bool, options: RunOptions) -> bool:
    """True if the configuration or ``runnable execute-job --dry-run`` asks for a dry run."""
    return configured or options.dry_run


def script_file(working_folder: Path) -> Path:
    """The script that called ``execute()``, relative to ``working_folder``.

    The inner process runs that same script again, so it must be a file inside the working folder
    (which is what a container or an image sees). A notebook, a REPL or ``python -c`` has no such
    file: that is an error saying what to do instead.
    """
    main = sys.modules.get("__main__")
    candidate = getattr(main, "__file__", None)
    # A zip application's __main__ is 'app.pyz/__main__.py'; the file to run again is the archive
    # (not for a module run with -m from a zip on sys.path: its file is another one in the zip).
    archive = getattr(getattr(main, "__loader__", None), "archive", None)
    if archive and candidate == os.path.join(archive, "__main__.py"):
        candidate = archive
    if not candidate:
        raise ConfigurationError(
            "cannot tell which script to run in the container or pod: execute() was not called from a "
            "Python script (a notebook, a REPL or 'python -c' has no file); put the job in a .py file and "
            "run it with 'python FILE.py' or 'runnable execute-job FILE.py --config ...'"
        )
    path = Path(candidate).absolute()
    try:
        return path.relative_to(working_folder)
    except ValueError:
        raise ConfigurationError(
            f"the script {str(path)!r} is outside the working folder {str(working_folder)!r}; the container "
            "or pod sees only the working folder, so run the script from a folder that contains it"
        ) from None


def refuse_home_locations(configuration: Configuration, where: str) -> None:
    """Refuse a file-system location (``LOCATION_KEYS``) written with a leading '~'.

    The process started ``where`` reads the same configuration file and expands the '~' itself:
    ``~`` as the home folder of the user it runs as, ``~name`` as the home folder the user list
    *there* gives ``name``. Either way the job could write somewhere else than the folder mounted.

    >>> from runnable.config.loading import parse
    >>> refuse_home_locations(parse({"catalog": {"config": {"catalog_location": "/data/cat"}}}), "the pod")
    """
    for section in LOCATION_KEYS:
        service = configuration[section]
        key = service.folder_setting()
        written = service.written.get(key) if key is not None else None
        if key is None or not isinstance(written, str) or not written.startswith("~"):
            continue
        user = written[1:].split("/", 1)[0]
        if user:
            meaning = (f"starts with '~{user}', which {where} would look up as user {user!r} in its own list "
                       "of users, where that home folder may be elsewhere or missing")
        else:
            meaning = f"starts with '~', which {where} would take as the home folder of its own user, not yours"
        raise ConfigurationError(
            f"{section} setting {key!r} {written!r} {meaning}: write the path out in full ({service.config.get(key)})"
        )


def choose_run_id(options: RunOptions, run_log_store: RunLogStore | None) -> str:
    """The run id for the inner process: the one asked for (checked), or a fresh one.

    The inner process reserves it; the outer one only checks the store it can see, so that a taken
    id fails here, before anything starts.
    """
    if options.run_id:
        try:
            run_id = check_run_id(options.run_id)
        except RecordError as exc:  # the same message, as the error a run id gets; not chained to itself
            raise RunIdError(str(exc)) from None
        if run_log_store is not None and run_log_store.exists(run_id):
            raise RunIdError(
                f"run id {run_id!r} is already used in {run_log_store.location}; "
                "choose another id or leave it out to get a generated one"
            )
        return run_id
    for _ in range(1000):
        run_id = runid.generate()
        if run_log_store is None or not run_log_store.exists(run_id):
            return run_id
    raise RunIdError("could not find a free run id after 1000 attempts")


def parameter_env(options: RunOptions) -> dict[str, str]:
    """The run's parameters as ``RUNNABLE_PRM_<name>`` variables for the inner process.

    Strings go as they are, other values as JSON (what ``RUNNABLE_PRM_`` variables mean anyway).
    """
    exported = _params.to_environment(options.parameters)
    _params.check_environment(exported)  # 'a=b' would reach the container as RUNNABLE_PRM_a = 'b'
    return _environment.parameter_variables(exported)


def inner_arguments(script: str, config: str | None, run_id: str | None, tags: list[str]) -> list[str]:
    """The arguments of ``runnable execute-job`` inside the container or pod."""
    args = ["runnable", "execute-job", script]
    if config:
        args += ["--config", config]
    if run_id:
        args += ["--run-id", run_id]
    for tag in tags:
        args += ["--tag", tag]
    return args


def record_outcome(
    run_log_store: RunLogStore,
    job: BaseJob,
    configuration: Configuration,
    run_id: str,
    start: str,
    outcome: dict[str, Any],
    failure: str | None,
    print_summary: bool,
    secrets: Iterable[str] = (),
) -> RunRecord:
    """Add ``outcome`` (how the container or pod ended) to the run's record and return it.

    ``failure`` is None when the container or pod ended well, else a sentence saying how it ended.
    A record still ``RUNNING`` means the inner process was killed: it becomes ``FAIL`` with
    ``failure``. No record means the job never started: a ``FAIL`` record is written. Raises
    ``JobFailedError`` for a failed run, like the local executor.
    """
    from runnable.run.runner import now, summary

    changed = False
    if run_log_store.exists(run_id):
        record = run_log_store.get(run_id)
        if record.status == RUNNING:
            record.status = FAIL
            record.end = now()
            record.error = {"type": "ExecutorError", "message": failure or "the run did not finish", "traceback": ""}
            changed = True
    else:
        record = RunRecord(
            run_id=run_id,
            status=FAIL,
            job=job.describe(),
            start=start,
            end=now(),
            catalog={"type": configuration["catalog"].type},
        )
        from runnable.backends.secrets import mask_record

        # The job's description may spell a secret (a shell command); the error below is runnable's own.
        mask_record(record, secrets)
        record.error = {
            "type": "ExecutorError",
            "message": (failure or "the job's process ended") + " before the job wrote a run record; "
            "the job did not start (see the output above)",
            "traceback": "",
        }
        if not run_log_store.create(record):  # it appeared meanwhile: keep what the job wrote
            record = run_log_store.get(run_id)
        else:
            changed = True
    record.environment = {**record.environment, "executor": outcome}
    run_log_store.put(record)
    if changed and print_summary:
        sys.stdout.write(json.dumps(summary(record, run_log_store.location), indent=4) + "\n")
        sys.stdout.flush()
    if record.status == FAIL:
        message = record.error["message"] if record.error else "failed"
        exit_code = record.error.get("exit_code") if record.error else None  # a failed command's
        raise JobFailedError(f"run {run_id} failed: {message}", record, exit_code)
    return record

