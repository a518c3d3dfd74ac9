"""``pipeline.execute()``: options as a job gets them, then the configured pipeline executor.

The configuration, the parameters (``parameters_file``, ``RUNNABLE_PRM_*``), the run id and the tags
are read exactly as for a job (``runnable.run.execute``). The secrets of every task are resolved
before anything runs (a missing one fails the run unstarted) and masked everywhere in the run.
``runnable retry`` (``retrying``) or ``RUNNABLE_RETRY_RUN_ID`` makes the run a retry of that run
(``runnable.pipeline.retry``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from runnable import params as _params
from runnable.backends import secrets as _secrets
from runnable.config import loading as _config
from runnable.pipeline.dsl import BaseStep, BaseTask, Conditional, Loop, Map, Parallel, Pipeline
from runnable.record import RunRecord
from runnable.run import environment as _environment
from runnable.run.execute import CommandLine, _check_command_line, _tags, current
from runnable.run.runner import RunOptions

# The run ``runnable retry`` asked to retry, for the execute() of the script it runs (in this process
# only, as execute-job's command line is; ``RUNNABLE_RETRY_RUN_ID`` is the same from outside).
_RETRYING: list[str] = []


@contextmanager
def retrying(run_id: str) -> Iterator[None]:
    """Make every pipeline executed in the block a retry of run ``run_id``."""
    _RETRYING.append(run_id)
    try:
        yield
    finally:
        _RETRYING.remove(run_id)


def run_pipeline(pipeline: Pipeline, configuration_file: str | os.PathLike[str] | None,
                 parameters_file: str | os.PathLike[str] | None, run_id: str | None, tags: list[str],
                 retry_of: str | None = None) -> RunRecord | None:
    command_line = current() or CommandLine()
    for name, value in (("configuration_file", configuration_file), ("parameters_file", parameters_file),
                        ("job_id", run_id)):
        _check_command_line(command_line, name, value)
    environ = _environment.job_settings()  # the environment, read once, under the command line
    configuration = _config.load(configuration_file or command_line.configuration_file or environ.configuration_file)
    parameters_file = parameters_file or command_line.parameters_file or environ.parameters_file
    options = RunOptions(
        run_id=run_id or command_line.run_id or environ.run_id,
        parameters=_params.collect(parameters_file),
        tags=_tags(tags) + _tags(list(command_line.tags or environ.tags)),
        parameters_file=str(parameters_file) if parameters_file else None,
        configuration_file=str(configuration.path) if configuration.path else None,
        dry_run=command_line.dry_run,
    )
    command_line.runs += 1
    original = None
    retry_of = retry_of or (_RETRYING[-1] if _RETRYING else None) or \
        _environment.text(_environment.ENV_RETRY_RUN_ID)
    if retry_of:
        from runnable.pipeline.retry import initial_parameters, original_run

        original = original_run(retry_of, configuration["run-log-store"].build())
        options.parameters = initial_parameters(original, options.parameters)
    if configuration.in_executor:  # inside a container: the steps run here
        from runnable.pipeline.executors import LocalPipelineExecutor

        executor: Any = LocalPipelineExecutor()
    else:
        executor = configuration["pipeline-executor"].build()
    from runnable.executors.argo.pipeline import ArgoPipelineExecutor

    # An Argo workflow's pods get their secrets from the cluster (secretKeyRef), not from here.
    if not isinstance(executor, ArgoPipelineExecutor):
        names = sorted({name for task in tasks(pipeline) for name in task.secrets})
        options.secrets = _secrets.resolve(configuration.secrets_backend(), names)  # fails before anything runs
    result: RunRecord | None = executor.execute(pipeline, configuration, options, original)
    return result


def tasks(pipeline: Pipeline) -> Iterator[BaseTask]:
    """Every task of ``pipeline``, nested ones and on_failure paths included."""
    for step in pipeline.steps:
        if isinstance(step, BaseStep):  # anything else is refused, in one line, by graph.check
            yield from _tasks_of(step)


def _tasks_of(step: BaseStep) -> Iterator[BaseTask]:
    if isinstance(step, BaseTask):
        yield step
    branches: list[Any] = []
    if isinstance(step, (Parallel, Conditional)):
        branches = list(step.branches.values())
    elif isinstance(step, (Map, Loop)):
        branches = [step.branch]
    if step.on_failure is not None:
        branches.append(step.on_failure)
    for branch in branches:
        if isinstance(branch, Pipeline):
            yield from tasks(branch)
