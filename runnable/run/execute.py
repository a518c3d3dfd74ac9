"""From ``job.execute()`` to an executor: the arguments and the environment become a configured run.

``execute_job`` merges ``execute()``'s arguments with what ``runnable execute-job`` passed down
(the ``RUNNABLE_*`` variables named here, and ``COMMAND_LINE``), loads the configuration, collects
the parameters, and hands the run to the configured executor. ``runner.py`` holds the explicit core
(``JobRunner``), which takes its options as arguments (it only sets, for the job's own code, the
secrets and the metrics file in the environment, and puts it back after).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runnable import params as _params
from runnable.config import loading as _config
from runnable.errors import ConfigurationError, UsageError
from runnable.run.runner import RunOptions

if TYPE_CHECKING:
    from runnable.jobs import BaseJob
    from runnable.record import RunRecord

ENV_RUN_ID = "RUNNABLE_RUN_ID"
ENV_TAGS = "RUNNABLE_TAGS"
ENV_PARAMETERS_FILE = "RUNNABLE_PARAMETERS_FILE"

# What ``runnable execute-job`` was given on its command line, by ``execute()`` argument name
# (``configuration_file``, ``parameters_file``, ``job_id``): a script that passes a different value
# itself is refused. In this process only: a variable would reach every process the job starts.
COMMAND_LINE: dict[str, str] = {}
_OPTION_OF = {"configuration_file": "--config", "parameters_file": "--parameters", "job_id": "--run-id"}


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
    given = {"configuration_file": configuration_file, "parameters_file": parameters_file, "job_id": run_id}
    for name, value in given.items():
        wanted = (str,) if name == "job_id" else (str, os.PathLike)
        if value is not None and not isinstance(value, wanted):
            what = "a run id (a string)" if name == "job_id" else "the path of a YAML file"
            raise TypeError(f"execute({name}=...) takes {what}, not the {type(value).__name__} {value!r}")
        _check_command_line(name, value)
    configuration = _config.load(configuration_file)
    parameters_file = parameters_file or os.environ.get(ENV_PARAMETERS_FILE) or None
    all_tags = _tags(tags) + _tags(os.environ.get(ENV_TAGS, "").split(","))
    options = RunOptions(
        run_id=run_id or os.environ.get(ENV_RUN_ID) or None,
        parameters=_params.collect(parameters_file),
        tags=all_tags,
        parameters_file=str(parameters_file) if parameters_file else None,
        configuration_file=str(configuration.path) if configuration.path else None,
    )
    executor = configuration.executor()  # ``local`` inside a container or pod started by runnable
    result: RunRecord | None = executor.execute(job, configuration, options)
    return result


def _tags(tags: Sequence[str] | str | None) -> list[str]:
    """Tags as a list: one string is one tag (not its letters), blanks around each are dropped, and
    blank tags are left out (``RUNNABLE_TAGS="a, b,"`` is ``["a", "b"]``)."""
    from runnable.jobs import names_list  # (loaded already: execute() is how a run gets here)

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


def _check_command_line(name: str, value: str | os.PathLike[str] | None) -> None:
    """Refuse a script's ``execute(name=value)`` that contradicts ``runnable execute-job``'s option.

    Either one alone, or both the same (paths compared as files), is fine: the script's value would
    otherwise win silently over the option the user just typed.
    """
    option_value = COMMAND_LINE.get(name)
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
