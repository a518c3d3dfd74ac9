"""Pipelines: steps that run in order inside ONE run, passing parameters and files through its catalog.

Design (the modules of this package, each one idea):

* ``dsl`` - what the user writes: ``Pipeline``, the tasks ``PythonTask``, ``ShellTask``,
  ``NotebookTask``, ``Stub`` and the composites ``Parallel``, ``Map``, ``Conditional``, ``Loop``.
  Plain objects; nothing is checked until the pipeline runs (upstream scripts set ``on_failure``
  after construction), and then everything is checked before anything runs.
* ``graph`` - the validated, immutable graph: every step gets a dotted name (``fan.a.train``, a Map's
  iterations ``each.3.train``), and a bad definition (a duplicate name, a parameter no one provides,
  a ``get`` no earlier step puts, an unknown ``break_on``, a reducer that is not a function) is one
  ``DefinitionError`` line naming the step. Its ``structure`` (names and kinds) is what
  ``retry`` compares.
* ``steps`` - one task step = one ``runnable.run.attempt.Attempt``, the very machinery a job's run
  uses (output capture, inputs hashed before, files and pickled returns stored after, secrets
  masked), into a step-sized record whose fields are folded into the run's record.
* ``job`` - ``PipelineJob``, the pipeline as the one job of its run (what the record's ``job`` says).
* ``engine`` - ``PipelineRunner``, a ``JobRunner`` whose work is the traversal: one run id, one
  catalog folder, one record written last; between steps the record is rewritten RUNNING with the
  steps done so far (data first, record after: a killed run's record never shows a step SUCCESS
  whose files are missing, and ``retry`` can start from it).
* ``branches`` - concurrent branches of ``Parallel`` and ``Map`` as forked processes (``max_workers``),
  each sending its step entries and returns back to the parent, which alone writes the record;
  ``spawned`` the same in fresh interpreters, for S3, whose client cannot cross a fork.
* ``record`` - the step entries of the record (``RunRecord.steps``) and the step tree ``runs show`` draws.
* ``shared`` - the paths several concurrent branches stored, settled once they ended (who wrote what).
* ``single``/``replay`` - ``runnable execute-step``: one step in its own process (a container, an Argo
  pod), each writing its own partial entry, the record assembled at the end.
* ``local``/``executors`` - ``execute()``: options and configuration, then the ``pipeline-executor``.
* ``dag`` - the pipeline as a DAG of ``runnable execute-step ... --partial`` commands (``replay``
  runs each): what the Argo executor renders as a workflow and the ``local-container`` executor
  (``executors``) runs, each command in its own container, without hera.
* ``retry`` - ``runnable retry RUN_ID``: a new run, linked to the original, that reuses the returns and
  files of the steps that succeeded and runs the rest.

Record of a pipeline run: a ``RunRecord`` whose ``job`` is ``{"kind": "pipeline", "name", "structure"}``
(``"retry_of"`` for a retry), whose ``files``/``objects``/``metrics`` hold every step's, and whose
``steps`` lists per step: name, kind, status, attempts, start, end, parameters (in), returns (out),
inputs (with the producing step), outputs (paths), objects, execution_log, error, and ``branches``
for a composite step; ``stored``/``stored_objects`` keep the versions (with hashes) each step stored,
since the run's ``files`` hold only the last version of a path. A job's record is the same record
with no ``steps``: a job is a pipeline of one task in spirit.
"""
