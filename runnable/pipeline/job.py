"""The pipeline seen as the one job of its run: what a pipeline run's record says under ``job``."""

from __future__ import annotations

from typing import Any

from runnable.jobs import BaseJob
from runnable.pipeline import graph
from runnable.pipeline.dsl import Pipeline


class PipelineJob(BaseJob):
    """The pipeline seen as the one job of its run: what the record's ``job`` describes."""

    kind = "pipeline"

    def __init__(self, pipeline: Pipeline, retry_of: str | None = None) -> None:
        super().__init__(name=pipeline.name if pipeline.name != "pipeline" else None)
        self.pipeline = pipeline
        self.retry_of = retry_of

    def default_name(self) -> str:
        return "pipeline"

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {**super().describe(), "structure": graph.structure(self.pipeline),
                                     "step_returns": graph.declared_returns(self.pipeline)}
        if self.retry_of:
            described["retry_of"] = self.retry_of
        return described
