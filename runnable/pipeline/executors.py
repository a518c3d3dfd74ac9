"""Pipeline executors: where a pipeline's steps run (``pipeline-executor`` in the configuration).

* ``local`` (the default): the steps in this process, ``Parallel``/``Map`` branches as forked
  processes, at most ``max_workers`` at a time (the CPU count by default);
* ``local-container``: every step in its own container, as the Argo executor runs it in its own
  pod: the DAG of runnable.pipeline.dag (the same ``runnable execute-step RUN_ID SCRIPT STEP --config
  FILE --partial`` commands, ``--plan`` for a Map's items or a Conditional's branch, ``--collect``
  for a fan-in, ``--outcome`` before an ``on_failure`` path, a Loop as one container, and
  ``--finish`` last, which writes the record), each command run through the container engine exactly
  as the job executor's ``local-container`` builds it (volumes, environment, secrets by name only)::

    pipeline-executor:
      type: local-container
      config: {image: my-project:latest, max_workers: 4}

  Tasks start in dependency order, Parallel branches and Map items at the same time, at most
  ``max_workers`` containers at once (the CPU count by default); ``depends`` and ``when`` are
  evaluated as Argo's controller does, from the outcome and plan each container writes into a
  hidden folder of the (mounted) working folder, removed at the end. ``runnable retry RUN_ID FILE
  --config ...`` runs only the steps the original run did not finish successfully (the others are
  reused, ``RUNNABLE_RETRY_RUN_ID``).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from runnable.errors import ConfigurationError, JobFailedError, RunNotFoundError
from runnable.pipeline import dag
from runnable.pipeline.branches import MAX_WORKERS_DEFAULT
from runnable.pipeline.dsl import Pipeline
from runnable.record import RUNNING, SUCCESS, RunRecord

if TYPE_CHECKING:
    from runnable.backends.protocols import RunLogStore
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
    """Runs each step of the pipeline in a container; see the module docstring."""

    def __init__(self, image: str, engine: str | None = None, mount_path: str | None = None,
                 user: str | int | None = "auto", environment: dict[str, str | int | float | bool] | None = None,
                 run_args: list[str] | None = None, dry_run: bool = False, max_workers: int | None = None) -> None:
        from runnable.executors.container import LocalContainerExecutor

        try:
            self.container = LocalContainerExecutor(image, engine, mount_path, user, environment, run_args, dry_run)
        except ConfigurationError as exc:
            raise ConfigurationError(str(exc).replace("job-executor", "pipeline-executor")) from None
        if max_workers is not None and max_workers < 1:
            raise ConfigurationError(f"pipeline-executor (local-container): max_workers must be at least 1, "
                                     f"not {max_workers}")
        self.max_workers = max_workers or MAX_WORKERS_DEFAULT

    def execute(self, pipeline: Pipeline, configuration: Configuration, options: RunOptions,
                retry_of: RunRecord | None) -> RunRecord | None:
        from runnable.executors import remote
        from runnable.pipeline import graph

        graph.check(pipeline, set(options.parameters))
        if retry_of is not None:
            from runnable.pipeline.retry import check_same_structure

            check_same_structure(retry_of, pipeline)
        dry_run = remote.dry_run_requested(self.container.dry_run, options)
        store = None if dry_run else configuration["run-log-store"].build()
        run_id = remote.choose_run_id(options, store)
        engine = self.container.engine_name(dry_run)
        description = dag.describe(pipeline, _SCRIPT, _CONFIG, retry_of=retry_of)
        working_folder = Path.cwd().absolute()
        outputs = working_folder / f".runnable-steps-{run_id}"  # plans and outcomes, seen by both sides
        inside = PurePosixPath(self.container.mount_path) if self.container.mount_path else \
            PurePosixPath(working_folder.as_posix())
        kinds = {kind.name: kind for kind in description.kinds}

        def command(step: dag.Step, item: str | None) -> tuple[list[str], dict[str, str], dict[str, Path]]:
            """The engine's argv and environment for one task (one Map item), and its output files."""
            kind = kinds[step.kind]
            values = {f"{{{{inputs.parameters.{k}}}}}": v.replace("{{item}}", item or "")
                      for k, v in step.arguments.items()}
            values[dag.RUN_ID] = run_id
            files: dict[str, Path] = {}
            for output in kind.outputs:
                name = f"{step.name}{'.' + item if item is not None else ''}.{output.name}"
                values[output.path] = str(inside / outputs.name / name)
                files[output.name] = outputs / name
            argv = [_substituted(a, values) for a in kind.argv]
            secrets = {ref.variable: options.secrets[ref.variable] for ref in kind.secrets
                       if ref.variable in options.secrets}

            def inner(script: str, config: str) -> list[str]:
                return [a.replace(_SCRIPT, script).replace(_CONFIG, config) for a in argv]

            built = self.container.build(pipeline, configuration, options, run_id, secrets,  # type: ignore[arg-type]
                                         working_folder, engine, inner=inner, env=kind.env)
            return built.argv, built.env, files

        if dry_run:
            for step in (*description.steps, *([description.on_exit] if description.on_exit else [])):
                argv, _, _ = command(step, "{{item}}" if step.with_param else None)
                sys.stdout.write(" ".join(_quoted(argv)) + "\n")
            sys.stdout.flush()
            return None
        assert store is not None
        for section in ("catalog", "run-log-store"):  # an engine would create a missing mounted folder as root
            if (key := configuration[section].folder_setting()) is not None:
                Path(str(configuration[section].config.get(key))).mkdir(parents=True, exist_ok=True)

        def launch(step: dag.Step, item: str | None) -> tuple[bool, dict[str, str]]:
            argv, env, files = command(step, item)
            sys.stdout.flush()
            sys.stderr.flush()
            try:
                ok = subprocess.run(argv, env={**os.environ, **env}, check=False).returncode == 0
            except OSError as exc:
                sys.stderr.write(f"runnable: the container engine {engine!r} could not be started: {exc}\n")
                return False, {}
            return ok, {name: file.read_text(encoding="utf-8") for name, file in files.items() if file.exists()}

        outputs.mkdir(exist_ok=True)
        try:
            run_dag(description.steps, launch, self.max_workers)
            if description.on_exit is not None:
                launch(description.on_exit, None)  # the record, last, whatever happened before
        finally:
            shutil.rmtree(outputs, ignore_errors=True)
        record = _written(store, run_id)  # its summary is printed already, by --finish
        if record is None or record.status == RUNNING:
            # The --finish container did not write it (no image, the engine failed): assemble it here
            # from the steps' entries, a step without one failed, so a run never stays RUNNING.
            sys.stderr.write(f"runnable: the last container did not write the record of run {run_id}; "
                             "writing it from the steps' entries here\n")
            record = _finish_here(pipeline, run_id, configuration,
                                  {**remote.parameter_env(options), **kinds["finish"].env})
        if record.status != SUCCESS:
            from runnable.run.report import report_uncaught_failures_in_one_line

            report_uncaught_failures_in_one_line()
            why = (record.error or {}).get("message") or "a step ended it with terminate_with_failure"
            raise JobFailedError(f"run {run_id} failed: {why}; record {store.location}/{run_id}.json", record)
        return record


def _written(store: RunLogStore, run_id: str) -> RunRecord | None:
    try:
        return store.get(run_id)
    except RunNotFoundError:
        return None


def _finish_here(pipeline: Pipeline, run_id: str, configuration: Configuration, env: Mapping[str, str]) -> RunRecord:
    """``execute-step RUN_ID FILE --finish`` in this process, with the variables its container had."""
    from runnable.pipeline.replay import finish_run
    from runnable.run.environment import variables_set

    with variables_set(env):
        return finish_run(pipeline, run_id, configuration)


# Stand for the script and configuration file until the container's paths for them are known.
_SCRIPT, _CONFIG = "{{runnable.script}}", "{{runnable.config}}"
SUCCEEDED, FAILED, SKIPPED, OMITTED = "Succeeded", "Failed", "Skipped", "Omitted"
_PHASE = re.compile(r"([a-z0-9][a-z0-9-]*)\.(Succeeded|Failed|Skipped|Omitted)\b")
_OUTPUT = re.compile(r"{{tasks\.([a-z0-9][a-z0-9-]*)\.outputs\.parameters\.([a-z0-9-]+)}}")


def run_dag(steps: tuple[dag.Step, ...], launch: Callable[[dag.Step, str | None], tuple[bool, dict[str, str]]],
            max_workers: int) -> dict[str, str]:
    """Run ``steps`` as Argo's controller runs a DAG (for what runnable.pipeline.dag emits); each
    task's phase by name.

    A task starts once every task its ``depends``, ``when`` and ``withParam`` name has ended; a false
    ``depends`` omits it, a false ``when`` (or an empty ``withParam``) skips it; a ``withParam`` task
    runs once per item, Failed if any item failed. At most ``max_workers`` launches at once.
    """
    phases: dict[str, str] = {}
    outputs: dict[str, dict[str, str]] = {}
    pending = list(steps)
    results: dict[str, list[bool]] = {}
    expected: dict[str, int] = {}
    running: dict[Future[tuple[bool, dict[str, str]]], str] = {}
    with ThreadPoolExecutor(max_workers) as pool:
        while pending or running:
            for step in list(pending):
                if any(name not in phases for name in _references(step)):
                    continue
                pending.remove(step)
                if step.depends and not _evaluate(_PHASE.sub(
                        lambda m: str(phases[m.group(1)] == m.group(2)),
                        step.depends.replace("&&", " and ").replace("||", " or "))):
                    phases[step.name] = OMITTED
                    continue
                if step.when and not _evaluate(_outputs(step.when, outputs)):
                    phases[step.name] = SKIPPED
                    continue
                items: list[str | None] = [None]
                if step.with_param is not None:
                    items = [str(i) for i in json.loads(_outputs(step.with_param, outputs) or "[]")]
                if not items:
                    phases[step.name] = SKIPPED
                    continue
                expected[step.name], results[step.name] = len(items), []
                for item in items:
                    running[pool.submit(launch, step, item)] = step.name
            if not running:
                for step in pending:  # cannot happen for a DAG in order; never wait for nothing
                    phases[step.name] = OMITTED
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                ok, produced = future.result()
                results[name].append(ok)
                outputs[name] = produced
                if len(results[name]) == expected[name]:
                    phases[name] = SUCCEEDED if all(results[name]) else FAILED
    return phases


def _references(step: dag.Step) -> set[str]:
    names = {m.group(1) for m in _PHASE.finditer(step.depends or "")}
    return names | {m.group(1) for m in _OUTPUT.finditer(f"{step.when or ''} {step.with_param or ''}")}


def _outputs(text: str, outputs: Mapping[str, Mapping[str, str]]) -> str:
    return _OUTPUT.sub(lambda m: outputs.get(m.group(1), {}).get(m.group(2), ""), text)


def _evaluate(expression: str) -> bool:
    """``True and (False or True)``, ``'Failed' == 'Failed'``: the forms the DAG's ``depends`` and
    ``when`` take, evaluated without ``eval``."""

    def value(node: ast.expr) -> object:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name) and node.id in ("True", "False"):
            return node.id == "True"
        if isinstance(node, ast.BoolOp):
            parts = [bool(value(v)) for v in node.values]
            return all(parts) if isinstance(node.op, ast.And) else any(parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not value(node.operand)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            same = value(node.left) == value(node.comparators[0])
            return same if isinstance(node.ops[0], ast.Eq) else not same
        raise ValueError(f"unsupported expression {expression!r}")

    return bool(value(ast.parse(expression.strip(), mode="eval").body))


def _substituted(text: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _quoted(argv: list[str]) -> list[str]:
    import shlex

    return [shlex.quote(a) for a in argv]
