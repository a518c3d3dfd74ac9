"""Job executors: where a job runs. Each takes the job, the configuration and the run options.

* ``local``: in the calling process (the default);
* ``local-container``: inside a container image, running ``runnable execute-job`` there;
* ``k8s-job``: as a Kubernetes Job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from runnable.config.loading import Configuration
    from runnable.jobs import BaseJob
    from runnable.record import RunRecord
    from runnable.run.runner import RunOptions


class Executor(Protocol):
    def execute(self, job: BaseJob, configuration: Configuration, options: RunOptions) -> RunRecord | None:
        """Run the job once and return its final record (None for a dry run: nothing ran)."""
        ...
