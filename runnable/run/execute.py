"""From ``job.execute()`` to an executor: the arguments and the environment become a configured run.

``execute_job`` merges ``execute()``'s arguments with what ``runnable execute-job`` handed over
(a ``CommandLine``) and the ``RUNNABLE_*`` variables (``runnable.run.environment``), loads the configuration, collects
the parameters, and hands the run to the configured executor. ``runner.py`` holds the explicit core
(``JobRunner``), which takes its options as arguments (it only sets, for the job's own code, the
secrets and the metrics file in the environment, and puts it back after).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runnable import params as _params
from runnable.config import loading as _config
from runnable.errors import ConfigurationError, UsageError
from runnable.run import environment as _environment
from runnable.run.runner import RunOptions

if TYPE_CHECKING:
    from runnable.jobs import BaseJob
    from runnable.record import RunRecord



@dataclass
class CommandLine:
    """What ``runnable execute-job`` was given, for the ``execute()`` calls of the script it runs.

    Handed over with ``given(...)`` for the time the script runs, in this process only: an
    environment variable would reach every process the job starts. A script that passes a
    different configuration file, parameters file or run id itself is refused. ``runs`` counts the
    runs the script handed to an executor, so that execute-job knows whether it ran a job.

    >>> with given(CommandLine(run_id="r1")) as options: current() is options
    True
    """

    configuration_file: str | None = None
    parameters_file: str | None = None
    run_id: str | None = None
    tags: tuple[str, ...] = ()
    dry_run: bool = False
    runs: int = 0
    # ``runnable execute --output FILE --submit`` for the argo pipeline executor: where the workflow
    # is written, and whether it is submitted to the cluster.
    output: str | None = None
    submit: bool = False
    # The script ``runnable execute`` runs: a pod runs it again (its __main__ may be runnable's own,
    # when the script only defines the pipeline and runnable executes it afterwards).
    script: str | None = None

    def value(self, name: str) -> str | None:
        """The option for the ``execute()`` argument ``name``."""
        return {"configuration_file": self.configuration_file, "parameters_file": self.parameters_file,
                "job_id": self.run_id}[name]


# The command lines handed over, innermost last. A plain list, not a ContextVar: a thread the script
# starts runs in a fresh context, and its execute() must see the options (and count its run) too.
_GIVEN: list[CommandLine] = []
_OPTION_OF = {"configuration_file": "--config", "parameters_file": "--parameters", "job_id": "--run-id"}


@contextmanager
def given(command_line: CommandLine) -> Iterator[CommandLine]:
    """Hand ``command_line`` to every ``execute()`` called in the block."""
    _GIVEN.append(command_line)
    try:
        yield command_line
    finally:
        _GIVEN.remove(command_line)


def current() -> CommandLine | None:
    """The command line handed over by ``given``, if any."""
    return _GIVEN[-1] if _GIVEN else None


def execute_job(
    job: BaseJob,
    configuration_file: str | os.PathLike[str] | None,
    parameters_file: str | os.PathLike[str] | None,
    run_id: str | None,
    tags: Sequence[str] | str | None,
) -> RunRecord | None:
    """``job.execute()``: merge arguments with the environment, build the services, run.

    Returns None for a dry run of the container or Kubernetes executor (nothing ran).
    """
    command_line = current() or CommandLine()
    arguments = {"configuration_file": configuration_file, "parameters_file": parameters_file, "job_id": run_id}
    for name, value in arguments.items():
        wanted = (str,) if name == "job_id" else (str, os.PathLike)
        if value is not None and not isinstance(value, wanted):
            what = "a run id (a string)" if name == "job_id" else "the path of a YAML file"
            raise TypeError(f"execute({name}=...) takes {what}, not the {type(value).__name__} {value!r}")
        _check_command_line(command_line, name, value)
    environ = _environment.job_settings()  # the environment, read once, under the command line
    configuration = _config.load(configuration_file or command_line.configuration_file or environ.configuration_file)
    parameters_file = parameters_file or command_line.parameters_file or environ.parameters_file
    all_tags = _tags(tags) + _tags(list(command_line.tags or environ.tags))
    options = RunOptions(
        run_id=run_id or command_line.run_id or environ.run_id,
        parameters=_params.collect(parameters_file),
        tags=all_tags,
        parameters_file=str(parameters_file) if parameters_file else None,
        configuration_file=str(configuration.path) if configuration.path else None,
        dry_run=command_line.dry_run,
    )
    command_line.runs += 1
    executor = configuration.executor()  # ``local`` inside a container or pod started by runnable
    result: RunRecord | None = executor.execute(job, configuration, options)
    return result


def _tags(tags: Sequence[str] | str | None) -> list[str]:
    """Tags as a list: one string is one tag (not its letters), blanks around each are dropped, and
    blank tags are left out (``RUNNABLE_TAGS="a, b,"`` is ``["a", "b"]``)."""
    from runnable.jobchecks import names_list  # (loaded already: execute() is how a run gets here)

    if tags is None:
        return []
    out = []
    for tag in names_list(tags, "execute(tags=...)"):
        if "," in tag:
            raise ConfigurationError(
                f"tag {tag!r} holds a comma; tags travel comma-separated (RUNNABLE_TAGS, and into containers), "
                f"so give it as separate tags: {[t.strip() for t in tag.split(',') if t.strip()]!r}"
            )
        if tag.strip():
            out.append(tag.strip())
    return out


def _check_command_line(command_line: CommandLine, name: str, value: str | os.PathLike[str] | None) -> None:
    """Refuse a script's ``execute(name=value)`` that contradicts ``runnable execute-job``'s option.

    Either one alone, or both the same (paths compared as files), is fine: the script's value would
    otherwise win silently over the option the user just typed.
    """
    option_value = command_line.value(name)
    if value is None or option_value is None:
        return
    # Paths compare as files: "params.yaml" and "./params.yaml" name the same one.
    same = str(value) == option_value if name == "job_id" else Path(value).resolve() == Path(option_value).resolve()
    if not same:
        option = _OPTION_OF[name]
        raise UsageError(
            f"runnable execute-job was given {option} {option_value!r}, but the script passes "
            f"{name}={str(value)!r} to execute(); they differ, so nothing ran: remove {option} from the "
            f"command line to use the script's value, or remove {name}=... from the script to choose it "
            "on the command line"
        )
