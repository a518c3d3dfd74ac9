"""The ``argo`` pipeline executor: a pipeline rendered as an Argo Workflow (needs ``runnable[argo]``).

    config.py   its settings, checked when the configuration file is loaded
    render.py   a neutral description of the steps -> a hera Workflow / CronWorkflow -> YAML

Turning a ``Pipeline`` into that description waits on the pipelines themselves (runnable/pipeline/).
"""
