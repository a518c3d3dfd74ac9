"""The ``local-container`` executor: run the job inside a container image with docker or podman.

::

    job-executor:
      type: local-container
      config: {image: my-project:latest}

The working folder is mounted into the container (at the same path by default) and is its working
directory; the container runs ``runnable execute-job SCRIPT --config FILE --run-id ID``, so the job
writes to the same catalog and run-log store under the same run id. Secrets travel by name only
(``-e DB_PASSWORD``): the engine reads the value from its own environment, so it never appears on a
command line. ``dry_run: true`` (or ``runnable execute-job ... --dry-run``) prints the command.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from runnable.backends import secrets as _secrets
from runnable.config.loading import LOCATION_KEYS
from runnable.errors import ConfigurationError
from runnable.executors import remote

if TYPE_CHECKING:
    from runnable.config.loading import Configuration
    from runnable.jobs import BaseJob
    from runnable.record import RunRecord
    from runnable.run.runner import RunOptions

ENGINES = ("docker", "podman")


@dataclass
class ContainerCommand:
    """A built ``docker|podman run`` command and the environment values it reads by name."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # values for the ``-e NAME`` flags, never printed
    run_id: str = ""

    def shell(self) -> str:
        """The command as one shell line (what ``--dry-run`` prints)."""
        return shlex.join(self.argv)


class LocalContainerExecutor:
    """Runs jobs in a container (``job-executor: {type: local-container, config: {image: ...}}``).

    >>> LocalContainerExecutor(image="python:3.12").engine_name(dry_run=True) in ("docker", "podman")
    True
    """

    def __init__(
        self,
        image: str,
        engine: str | None = None,
        mount_path: str | None = None,
        user: str | int | None = "auto",
        environment: dict[str, str | int | float | bool] | None = None,
        run_args: list[str] | None = None,
        dry_run: bool = False,
    ) -> None:
        # The types are checked against these annotations when the file is loaded (runnable.config.settings);
        # here only what an annotation cannot say.
        if not image.strip():
            raise ConfigurationError("job-executor (local-container): 'image' is empty; give an image name")
        if mount_path is not None and not PurePosixPath(mount_path).is_absolute():
            raise ConfigurationError(
                "job-executor (local-container): 'mount_path' must be an absolute path, as the container sees it"
            )
        if engine is not None and not engine.strip():
            raise ConfigurationError(
                "job-executor (local-container): 'engine' is empty; give the name or path of docker or podman, "
                "or leave it out to use whichever is on PATH"
            )
        self.image = image
        self.engine = engine
        self.mount_path = mount_path
        self.user = str(user) if isinstance(user, int) else user  # 'user: 1000' is the uid
        # Numbers and booleans as Python writes them: 8080 -> '8080', true -> 'True'.
        self.environment = {str(k): str(v) for k, v in (environment or {}).items()}
        self.run_args = list(run_args or [])
        self.dry_run = dry_run

    def engine_name(self, dry_run: bool) -> str:
        """The engine to call: the configured one, else docker or podman, whichever is on PATH."""
        if self.engine:
            if not dry_run and shutil.which(self.engine) is None:
                raise ConfigurationError(
                    f"container engine {self.engine!r} (job-executor config 'engine') is not on PATH; "
                    "install it or set 'engine' to docker or podman"
                )
            return self.engine
        for name in ENGINES:
            if shutil.which(name):
                return name
        if dry_run:
            return ENGINES[0]
        raise ConfigurationError(
            "no container engine found: neither docker nor podman is on PATH; install one, or set "
            "job-executor config 'engine' to its path"
        )

    def build(
        self,
        job: BaseJob,
        configuration: Configuration,
        options: RunOptions,
        run_id: str,
        secrets: dict[str, str],
        working_folder: Path,
        engine: str,
        inner: Callable[[str, str], list[str]] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ContainerCommand:
        """The ``run`` command for this job; no side effects, so tests can check it field by field.

        ``inner(script, config)`` gives the command inside (a pipeline's step: ``execute-step``);
        by default ``runnable execute-job``; ``env``: more plain (not secret) variables for it.
        """
        if configuration.path is None:
            raise ConfigurationError(
                "the local-container executor passes its configuration file into the container, but this "
                "configuration did not come from a file; give execute(configuration_file=...) or --config"
            )
        inside = PurePosixPath(self.mount_path) if self.mount_path else PurePosixPath(working_folder.as_posix())
        mounts: list[tuple[str, str, bool]] = [(str(working_folder), str(inside), False)]

        def container_path(host: Path, read_only: bool) -> str:
            """Where ``host`` is seen inside; mounts it at its own path if outside the working folder."""
            host = Path(os.path.normpath(host.absolute()))
            try:
                return str(inside / host.relative_to(working_folder).as_posix())
            except ValueError:
                if not any(host == Path(m[0]) for m in mounts):
                    mounts.append((str(host), host.as_posix(), read_only))
                return host.as_posix()

        config_inside = container_path(configuration.path, read_only=True)
        remote.refuse_home_locations(configuration, "the container")
        for section in LOCATION_KEYS:
            service = configuration[section]
            key = service.folder_setting()
            if key is None:
                continue  # an object store is reached over the network, not through a mount
            location = Path(str(service.config.get(key)))
            host = location if location.is_absolute() else working_folder / location
            host = Path(os.path.normpath(host))
            try:
                host.relative_to(working_folder)
            except ValueError:
                # Outside the working folder: mounted at the path the relative setting reaches inside.
                seen_at = host if location.is_absolute() else Path(os.path.normpath(Path(str(inside)) / location))
                if not any(host == Path(m[0]) for m in mounts):
                    mounts.append((str(host), seen_at.as_posix(), False))
        script = container_path(working_folder / remote.script_file(working_folder), read_only=True)

        env_values: dict[str, str] = {}
        argv = [engine, "run", "--rm"]
        for host_path, seen_at_path, read_only in mounts:
            argv += ["-v", f"{host_path}:{seen_at_path}" + (":ro" if read_only else "")]
        argv += ["-w", str(inside)]
        user = self._user(engine)
        if user:
            argv += ["--user", user]
        for name, value in {**self.environment, **(env or {}), **remote.INNER_ENV}.items():
            argv += ["-e", f"{name}={value}"]
        # By name only: the engine copies the value from its own environment (set below).
        forwarded = {k: v for k, v in _object_store_credentials(configuration).items() if k not in self.environment}
        for name, value in {**remote.parameter_env(options), **secrets, **forwarded}.items():
            argv += ["-e", name]
            env_values[name] = value
        argv += self.run_args
        argv.append(self.image)
        if inner is not None:
            argv += inner(script, config_inside)
        else:
            argv += remote.inner_arguments(script, config_inside, run_id, list(options.tags))
        return ContainerCommand(argv, env_values, run_id)

    def _user(self, engine: str) -> str | None:
        if self.user != "auto":
            return self.user or None
        # Rootful docker would write root-owned files into the mounted folder; rootless podman
        # already maps the container's root to the calling user.
        if Path(engine).name == "docker" and hasattr(os, "getuid"):
            return f"{os.getuid()}:{os.getgid()}"
        return None

    def execute(self, job: BaseJob, configuration: Configuration, options: RunOptions) -> RunRecord | None:
        from runnable.run.runner import now

        dry_run = remote.dry_run_requested(self.dry_run, options)
        working_folder = Path.cwd().absolute()
        backend = configuration.secrets_backend()
        secrets = _secrets.resolve(backend, job.secrets)  # fails before anything starts
        # A dry run contacts nothing, so it does not check that the run id is free.
        run_log_store = None if dry_run else configuration["run-log-store"].build()
        run_id = remote.choose_run_id(options, run_log_store)
        engine = self.engine_name(dry_run)
        command = self.build(job, configuration, options, run_id, secrets, working_folder, engine)
        if dry_run:
            sys.stdout.write(command.shell() + "\n")
            sys.stdout.flush()
            return None
        for section in LOCATION_KEYS:
            # Create mounted folders first: an engine creates a missing one owned by root.
            if (key := configuration[section].folder_setting()) is not None:
                Path(str(configuration[section].config.get(key))).mkdir(parents=True, exist_ok=True)
        start = now()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            done = subprocess.run(command.argv, env={**os.environ, **command.env}, check=False)
            code: int | None = done.returncode
            problem = None if code == 0 else f"the container exited with code {code}"
        except OSError as exc:
            code, problem = None, f"the container engine {engine!r} could not be started: {exc}"
        outcome: dict[str, Any] = {"type": "local-container", "engine": engine, "image": self.image, "exit_code": code}
        assert run_log_store is not None
        return remote.record_outcome(
            run_log_store, job, configuration, run_id, start, outcome, problem, options.print_summary,
            secrets.values(),
        )


def _object_store_credentials(configuration: Configuration) -> dict[str, str]:
    """The AWS variables set here, when the catalog or run-log store is S3: the job inside reaches
    the bucket with the credentials this process has (passed by name, never on the command line).
    A ``secrets_file`` inside the working folder, or a role the container gets, works as well."""
    names = dict.fromkeys(name for section in ("catalog", "run-log-store")
                          for name in configuration[section].credential_variables())
    return {name: os.environ[name] for name in names if os.environ.get(name)}
