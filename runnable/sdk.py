"""The names upstream scripts import from ``runnable.sdk``: the same objects as ``runnable``'s.

>>> from runnable.sdk import Pipeline, PythonTask
"""

from runnable.catalog import Catalog
from runnable.jobs import NotebookJob, PythonJob, ShellJob
from runnable.pipeline.dsl import Conditional, Loop, Map, NotebookTask, Parallel, Pipeline, PythonTask, ShellTask, Stub
from runnable.returns import json, metric, pickled

__all__ = ["Catalog", "Conditional", "Loop", "Map", "NotebookJob", "NotebookTask", "Parallel", "Pipeline",
           "PythonJob", "PythonTask", "ShellJob", "ShellTask", "Stub", "json", "metric", "pickled"]
