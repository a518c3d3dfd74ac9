"""Pipeline executors: where a pipeline's steps run (``pipeline-executor`` in the configuration).

* ``local`` (the default): the steps in this process, ``Parallel``/``Map`` branches as forked
  processes, at most ``max_workers`` at a time (the CPU count by default);
* ``local-container``: each task in its own container, running ``runnable execute-step RUN_ID
  SCRIPT STEP`` there (the command the job executor's ``local-container`` builds, with the step's
  entry point inside); this process only orders the steps and reads the record after each::

    pipeline-executor:
      type: local-container
      config: {image: my-project:latest}

  Task steps, stubs and ``on_failure`` paths; composite steps (Parallel, Map, Conditional, Loop) are
  refused before anything starts (use the local executor for them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runnable.errors import ConfigurationError, JobFailedError
from runnable.pipeline.branches import MAX_WORKERS_DEFAULT
from runnable.pipeline.dsl import BaseStep, BaseTask, Pipeline, Stub
from runnable.pipeline.record import find
from runnable.record import FAIL, RUNNING, SUCCESS, RunRecord

if TYPE_CHECKING:
    from runnable.config.loading import Configuration
    from runnable.run.runner import RunOptions


class LocalPipelineExecutor:
    """Runs the pipeline in this process (``pipeline-executor: {type: local, config: {max_workers: 4}}``)."""

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and max_workers < 1:
            raise ConfigurationError(f"pipeline-executor (local): max_workers must be at least 1, not {max_workers}")
        self.max_workers = max_workers or MAX_WORKERS_DEFAULT

    def execute(self, pipeline: Pipeline, configuration: Configuration, options: RunOptions,
                retry_of: RunRecord | None) -> RunRecord | None:
        from runnable.backends import secrets as _secrets
        from runnable.pipeline.engine import PipelineRunner

        values = list(options.secrets.values())
        runner = PipelineRunner(pipeline, configuration.storage_service().build(),
                                configuration["run-log-store"].build(), algorithm=configuration.hash_algorithm,
                                options=options, catalog_type=configuration["catalog"].type,
                                make_filter=(lambda: _secrets.Masker(values)) if values else None,
                                retry_of=retry_of, max_workers=self.max_workers)
        return runner.run()


class LocalContainerPipelineExecutor:
    """Runs each task of the pipeline in a container; see the module docstring."""

    def __init__(self, image: str, engine: str | None = None, mount_path: str | None = None,
                 user: str | int | None = "auto", environment: dict[str, str | int | float | bool] | None = None,
                 run_args: list[str] | None = None, dry_run: bool = False) -> None:
        from runnable.executors.container import LocalContainerExecutor

        try:
            self.container = LocalContainerExecutor(image, engine, mount_path, user, environment, run_args, dry_run)
        except ConfigurationError as exc:
            raise ConfigurationError(str(exc).replace("job-executor", "pipeline-executor")) from None

    def commands(self, pipeline: Pipeline, configuration: Configuration, options: RunOptions, run_id: str,
                 engine: str) -> dict[str, list[str]]:
        """The command each top-level step (and on_failure step) would run, by dotted name."""
        from runnable.backends import secrets as _secrets

        working_folder = Path.cwd().absolute()
        out: dict[str, list[str]] = {}
        for path, step in _steps(pipeline):
            secrets = _secrets.resolve(configuration.secrets_backend(), step.secrets) if isinstance(step, BaseTask) else {}

            def inner(script: str, config: str, path: str = path) -> list[str]:
                return ["runnable", "execute-step", run_id, script, path, "--config", config]

            command = self.container.build(pipeline, configuration, options, run_id, secrets,  # type: ignore[arg-type]
                                           working_folder, engine, inner=inner)
            out[path] = command.argv
            self._env = {**getattr(self, "_env", {}), **command.env}
        return out

    def execute(self, pipeline: Pipeline, configuration: Configuration, options: RunOptions,
                retry_of: RunRecord | None) -> RunRecord | None:
        from runnable.executors import remote

        if retry_of is not None:
            raise ConfigurationError("retry with the local-container pipeline executor is not supported yet; "
                                     "retry with the local executor (its run reuses the same catalog)")
        for path, step in _all_steps(pipeline):
            if not isinstance(step, (BaseTask, Stub)):
                raise ConfigurationError(f"pipeline step {path!r} is a {step.kind} step, which the local-container "
                                         "pipeline executor does not run yet; use pipeline-executor type local")
        dry_run = remote.dry_run_requested(self.container.dry_run, options)
        store = None if dry_run else configuration["run-log-store"].build()
        run_id = remote.choose_run_id(options, store)
        engine = self.container.engine_name(dry_run)
        commands = self.commands(pipeline, configuration, options, run_id, engine)
        if dry_run:
            for argv in commands.values():
                sys.stdout.write(" ".join(_quoted(argv)) + "\n")
            sys.stdout.flush()
            return None
        assert store is not None
        for section in ("catalog", "run-log-store"):  # an engine would create a missing mounted folder as root
            if (key := configuration[section].folder_setting()) is not None:
                Path(str(configuration[section].config.get(key))).mkdir(parents=True, exist_ok=True)
        ok = self._run(pipeline.steps, "", commands, run_id, store)
        record: RunRecord = store.get(run_id)
        if record.status == RUNNING:  # an on_failure path that ended, or a terminate_with_*: its outcome
            record.status = SUCCESS if ok else FAIL
            from runnable.run.runner import now

            record.end = now()
            store.put(record)
        sys.stdout.write(f'{{"status": "{record.status}", "run_id": "{run_id}"}}\n')
        if record.status != SUCCESS:
            from runnable.run.report import report_uncaught_failures_in_one_line

            report_uncaught_failures_in_one_line()
            why = (record.error or {}).get("message") or "a step ended it with terminate_with_failure"
            raise JobFailedError(f"run {run_id} failed: {why}; record {store.location}/{run_id}.json", record)
        return record

    def _run(self, steps: list[BaseStep], prefix: str, commands: dict[str, list[str]], run_id: str,
             store: Any) -> bool:
        """Run ``steps`` in order, each in its container; False once one failed without recovery."""
        for step in steps:
            path = prefix + step.name
            sys.stdout.flush()
            sys.stderr.flush()
            subprocess.run(commands[path], env={**os.environ, **self._env}, check=False)
            entry = find(store.get(run_id).steps, path)
            ok = entry is not None and entry.get("status") == SUCCESS
            if not ok:
                if step.on_failure is not None:
                    return self._run(step.on_failure.steps, f"{path}.on_failure.", commands, run_id, store)
                return False
            if step.terminate_with_success or step.terminate_with_failure:
                return not step.terminate_with_failure
        return True


def _steps(pipeline: Pipeline, prefix: str = "") -> list[tuple[str, BaseStep]]:
    out: list[tuple[str, BaseStep]] = []
    for step in pipeline.steps:
        out.append((prefix + step.name, step))
        if step.on_failure is not None:
            out += _steps(step.on_failure, f"{prefix}{step.name}.on_failure.")
    return out


def _all_steps(pipeline: Pipeline) -> list[tuple[str, BaseStep]]:
    return _steps(pipeline)


def _quoted(argv: list[str]) -> list[str]:
    import shlex

    return [shlex.quote(a) for a in argv]
