"""The ``RUNNABLE_*`` environment variables: every name defined here, and read here.

Two directions cross the process boundary, and only they use the environment:

- **in**: what a user (or the process that started this one) sets: ``RUNNABLE_CONFIGURATION_FILE``,
  ``RUNNABLE_PARAMETERS_FILE``, ``RUNNABLE_RUN_ID``, ``RUNNABLE_TAGS``, ``RUNNABLE_PRM_<name>``,
  ``RUNNABLE_RETRY_RUN_ID`` (docs/pipelines.md),
  ``RUNNABLE_REHASH``, ``RUNNABLE_CACHE_DIR``, ``RUNNABLE_PROGRESS_DELAY`` (documented in docs/jobs.md
  and docs/configuration.md), and ``RUNNABLE_IN_EXECUTOR`` (set by runnable for a container or pod);
- **out**: what a child process must receive: the container or pod a remote executor starts
  (``INNER_PROCESS_ENV``, ``parameter_variables``), and the job's own code (``RUNNABLE_METRICS_FILE``,
  ``RUNNABLE_SECRET_NAMES``, set by the runner around the job).

Inside one process, options travel as arguments: ``runnable execute-job`` hands its command line to
``execute()`` as a ``CommandLine`` (``runnable.run.execute``), not through ``os.environ``.

>>> job_settings({"RUNNABLE_TAGS": "a, b", "RUNNABLE_RUN_ID": "r1"}).run_id
'r1'
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

ENV_CONFIG = "RUNNABLE_CONFIGURATION_FILE"
ENV_PARAMETERS_FILE = "RUNNABLE_PARAMETERS_FILE"
ENV_RUN_ID = "RUNNABLE_RUN_ID"
ENV_TAGS = "RUNNABLE_TAGS"
# `RUNNABLE_RETRY_RUN_ID=RUN_ID python pipeline.py`: the run is a retry of that failed pipeline run.
ENV_RETRY_RUN_ID = "RUNNABLE_RETRY_RUN_ID"
# Parameters: RUNNABLE_PRM_<name>=<value> (runnable.params).
ENV_PARAMETER_PREFIX = "RUNNABLE_PRM_"
# Set by the container and Kubernetes executors for the process they start: there the job runs in
# that process (executor ``local``) with secrets from the environment the executor filled, whatever
# the configuration file says, so the job does not launch itself again.
ENV_IN_EXECUTOR = "RUNNABLE_IN_EXECUTOR"
ENV_REHASH = "RUNNABLE_REHASH"
ENV_CACHE_DIR = "RUNNABLE_CACHE_DIR"
ENV_PROGRESS_DELAY = "RUNNABLE_PROGRESS_DELAY"
# Set by the runner for the job's own code: where log_metric() appends.
ENV_METRICS_FILE = "RUNNABLE_METRICS_FILE"
# The names of the run's secrets (comma-separated; their values are in the job's environment): a
# metric name is masked before it is written, so a run that is killed leaves no secret behind.
ENV_SECRET_NAMES = "RUNNABLE_SECRET_NAMES"
# What every variable above starts with: a pipeline's return cannot take such a name (it would
# become one of these for a later shell task).
ENV_RESERVED_PREFIX = "RUNNABLE_"


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def text(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of the variable ``name`` (one of the names above), None when unset or empty."""
    return _env(environ).get(name) or None


def flag(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """True when the variable ``name`` is set to anything but empty or ``0``."""
    return _env(environ).get(name, "") not in ("", "0")


def prefixed(prefix: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables whose names start with ``prefix``, by the rest of their name (not empty)."""
    return {k[len(prefix):]: v for k, v in _env(environ).items() if k.startswith(prefix) and k != prefix}


@dataclass(frozen=True)
class JobSettings:
    """What the environment says about the next run, read once by ``execute()``."""

    configuration_file: str | None
    parameters_file: str | None
    run_id: str | None
    tags: tuple[str, ...]


def job_settings(environ: Mapping[str, str] | None = None) -> JobSettings:
    """The run settings the environment gives (``RUNNABLE_TAGS`` split at commas, blanks kept: the
    caller checks them with the tags ``execute()`` was given)."""
    tags = text(ENV_TAGS, environ)
    return JobSettings(
        configuration_file=text(ENV_CONFIG, environ),
        parameters_file=text(ENV_PARAMETERS_FILE, environ),
        run_id=text(ENV_RUN_ID, environ),
        tags=tuple(tags.split(",")) if tags else (),
    )


# What the process a container or Kubernetes executor starts receives by value from runnable: the
# marker that it runs the job itself (nothing secret, so it may show in a dry run's command).
INNER_PROCESS_ENV = {ENV_IN_EXECUTOR: "1"}


def parameter_variables(exported_parameters: Mapping[str, str]) -> dict[str, str]:
    """The run's parameters (already strings) as the ``RUNNABLE_PRM_<name>`` variables of a child."""
    return {ENV_PARAMETER_PREFIX + k: v for k, v in exported_parameters.items()}


def saved(names: Iterable[str]) -> dict[str, str | None]:
    """The current values of ``names`` (None where unset), for ``restore``."""
    return {name: os.environ.get(name) for name in names}


def restore(values: Mapping[str, str | None]) -> None:
    """Put variables back as ``saved`` found them: set again, or removed where they were unset."""
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextmanager
def variables_set(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in this process's environment for the block (a step's secrets, a container's
    variables), and the environment as it was afterwards."""
    before = saved(values)
    os.environ.update(values)
    try:
        yield
    finally:
        restore(before)
