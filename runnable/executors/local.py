"""The local executor: run the job in this process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runnable.backends import secrets as _secrets
from runnable.errors import ConfigurationError
from runnable.run.runner import JobRunner, RunOptions

if TYPE_CHECKING:
    from runnable.config.loading import Configuration
    from runnable.jobs import BaseJob
    from runnable.record import RunRecord


class LocalExecutor:
    """Runs jobs in the calling process (``job-executor: {type: local}``)."""

    def execute(self, job: BaseJob, configuration: Configuration, options: RunOptions) -> RunRecord:
        if options.dry_run and not configuration.in_executor:
            raise ConfigurationError(
                "--dry-run shows what the local-container and k8s-job executors would start; this "
                "configuration uses the local executor, which has nothing to show: run without --dry-run"
            )
        storage = configuration.storage_service().build()
        run_log_store = configuration["run-log-store"].build()
        backend = configuration.secrets_backend()  # the environment inside a container or pod
        options.secrets = _secrets.resolve(backend, job.secrets)  # fails before the job runs
        values = list(options.secrets.values())
        runner = JobRunner(
            job,
            storage,
            run_log_store,
            algorithm=configuration.hash_algorithm,
            options=options,
            catalog_type=configuration["catalog"].type,
            make_filter=(lambda: _secrets.Masker(values)) if values else None,
        )
        return runner.run()
