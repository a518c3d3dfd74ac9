"""The checked pipeline: dotted step names, and every definition error found before anything runs.

``check(pipeline, parameters)`` walks the steps in the order they would run, tracking which
parameters exist at each step (the initial ones, then each task's returns) and which files earlier
steps put, and raises one ``DefinitionError`` line for the first problem:

* a step name that is empty, holds '/', '.' or a control character, is too long, or is used twice
  in one pipeline;
* a return named like an environment variable the system or runnable needs (``PATH``), a shell
  task's return that cannot be a variable name, a notebook that is not in the working folder;
* a Python function argument (without a default) that no parameter and no earlier return provides;
* a ``get`` (without ``get_from``) that no earlier step's ``put`` can have stored;
* a Map's ``iterate_on`` or a Conditional's ``parameter`` that does not exist there, a Loop's
  ``break_on`` its branch does not return, a reducer that is not a function.

After a Parallel, later steps have what any branch returns; after a Conditional, only what every
branch returns (one of them runs).

``structure(pipeline)`` lists ``path:kind`` for every step, branches included: what ``retry`` compares.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from runnable.errors import DefinitionError
from runnable.pipeline.dsl import (
    BaseStep,
    BaseTask,
    Conditional,
    Loop,
    Map,
    NotebookTask,
    Parallel,
    Pipeline,
    PythonTask,
    ShellTask,
)

_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a name a shell can read as a variable

#: Names a return (or a Loop's index_as) cannot take: every later shell task gets the parameters as
#: environment variables, and a loop's index is one, so a return named PATH would leave the next
#: command without its programs. runnable's own settings (RUNNABLE_*) are kept out as well.
RESERVED_NAMES = frozenset({"PATH", "HOME", "PWD", "OLDPWD", "SHELL", "IFS", "ENV", "BASH_ENV", "CDPATH", "PS4",
                            "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR", "LD_PRELOAD", "LD_LIBRARY_PATH",
                            "PYTHONPATH", "PYTHONHOME"})


def _reserved(name: str) -> bool:
    from runnable.run.environment import ENV_RESERVED_PREFIX

    return name in RESERVED_NAMES or name.startswith(ENV_RESERVED_PREFIX)


def check(pipeline: Pipeline, parameters: set[str], working_folder: Path | None = None) -> None:
    """Raise DefinitionError, in one line, for the first definition error (module docstring); with
    ``working_folder``, also for a notebook that is not there (rather than when its step comes)."""
    if not isinstance(pipeline, Pipeline):
        raise DefinitionError(f"expected a runnable.Pipeline, not {type(pipeline).__name__}")
    _walk(pipeline, "", set(parameters), [])
    if working_folder is not None:
        for path, task in _tasks(pipeline, ""):
            if isinstance(task, NotebookTask) and not (working_folder / task.notebook).is_file():
                raise DefinitionError(f"{_where(path)}: notebook {task.notebook!r} does not exist in "
                                      f"{working_folder}; give the path of a notebook file, relative to it")


def _tasks(pipeline: Pipeline, prefix: str) -> Iterator[tuple[str, BaseTask]]:
    """Every task of a checked ``pipeline`` with its dotted name, in branches and on_failure paths too."""
    for step in pipeline.steps:
        path = prefix + step.name
        if isinstance(step, BaseTask):
            yield path, step
        if step.on_failure is not None:
            yield from _tasks(step.on_failure, f"{path}.on_failure.")
        if isinstance(step, (Parallel, Conditional)):
            for key, branch in step.branches.items():
                yield from _tasks(branch, f"{path}.{key}.")
        elif isinstance(step, (Map, Loop)):
            yield from _tasks(step.branch, f"{path}.*.")


def _where(path: str) -> str:
    return f"pipeline step {path!r}"


#: The longest step or branch name, in UTF-8 bytes. A step's execution log is the file
#: ``{dotted.path}.execution.log`` in the run's catalog folder, and a file name holds at most 255
#: bytes: 100 leaves room for a few levels of nesting (MAX_PATH_BYTES) and the log's suffix.
MAX_NAME_BYTES = 100
MAX_PATH_BYTES = 200


def check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name.strip() or any(c in name for c in "/.\0"):
        raise DefinitionError(
            f"{where}: the name {name!r} cannot be used: a step or branch name must be non-empty text without "
            "'/' or '.' ('.' joins the names of nested steps, as in 'fan.a.train'); rename it"
        )
    if any(not c.isprintable() for c in name):  # a newline would split the log's file name and the console
        raise DefinitionError(f"{where}: the name {name!r} holds a control character (a newline, a tab, ...); "
                              "rename it with printable characters")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise DefinitionError(f"{where}: the name {name[:40]!r}... is {len(name.encode('utf-8', 'surrogatepass'))} "
                              f"bytes long, more than {MAX_NAME_BYTES} (its log file is named after it); "
                              "shorten it")
    return name


def _walk(pipeline: Pipeline, prefix: str, available: set[str], puts: list[str]) -> set[str]:
    """Check ``pipeline``'s steps; return the parameters that exist after it. ``puts`` grows."""
    where = f"pipeline {prefix.rstrip('.')!r}" if prefix else "pipeline"
    if not isinstance(pipeline, Pipeline):
        raise DefinitionError(f"{where}: a branch must be a runnable.Pipeline, not {type(pipeline).__name__}")
    if not pipeline.steps:
        raise DefinitionError(f"{where} has no steps; give it at least one (a Stub will do)")
    seen: set[str] = set()
    for step in pipeline.steps:
        if not isinstance(step, BaseStep):
            raise DefinitionError(f"{where}: {step!r} is not a step (PythonTask, ShellTask, NotebookTask, Stub, "
                                     "Parallel, Map, Conditional or Loop)")
        name = check_name(step.name, where)
        path = prefix + name
        if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
            raise DefinitionError(f"{_where(path[:60] + '...')}: the step's dotted name is longer than "
                                  f"{MAX_PATH_BYTES} bytes (its log file is named after it); shorten the names "
                                  "of it or its enclosing steps")
        if name in seen:
            raise DefinitionError(f"{where}: two steps are named {name!r}; step names must be unique in a "
                                     "pipeline (the record and the catalog tell steps apart by name)")
        seen.add(name)
        if step.terminate_with_success and step.terminate_with_failure:
            raise DefinitionError(f"{_where(path)} sets both terminate_with_success and terminate_with_failure; "
                                     "choose one")
        before = set(available)
        if step.on_failure is not None:
            _walk(step.on_failure, f"{path}.on_failure.", set(before), list(puts))
        available |= _check_step(step, path, before, puts)
    return available


def _check_step(step: BaseStep, path: str, available: set[str], puts: list[str]) -> set[str]:
    if isinstance(step, BaseTask):
        return _check_task(step, path, available, puts)
    if isinstance(step, (Parallel, Conditional)):
        branches = step.branches
        if not branches:
            raise DefinitionError(f"{_where(path)} has no branches; give it at least one")
        if isinstance(step, Conditional) and step.parameter not in available:
            raise DefinitionError(f"{_where(path)}: parameter={step.parameter!r} is neither a parameter of the run "
                                     f"nor returned by an earlier step; {_known(available)}")
        produced: set[str] | None = None
        branch_puts: list[str] = []
        for key, branch in branches.items():
            check_name(key, _where(path))
            mine = list(puts)
            after = _walk(branch, f"{path}.{key}.", set(available), mine)
            branch_puts += mine[len(puts):]
            # Every branch of a Parallel runs; one branch of a Conditional does, so a later step can
            # count only on what every one of its branches returns.
            if produced is None:
                produced = after
            else:
                produced = produced | after if isinstance(step, Parallel) else produced & after
        puts += branch_puts
        return produced or set()
    if isinstance(step, Map):
        if step.iterate_on not in available:
            raise DefinitionError(f"{_where(path)}: iterate_on={step.iterate_on!r} is neither a parameter of the "
                                     f"run nor returned by an earlier step; {_known(available)}")
        if not isinstance(step.iterate_as, str) or not step.iterate_as.isidentifier():
            raise DefinitionError(f"{_where(path)}: iterate_as={step.iterate_as!r} must be a parameter name")
        reducer(step, path)  # a reducer that is not a function fails now
        return _walk(step.branch, f"{path}.*.", available | {step.iterate_as}, puts) - available - {step.iterate_as}
    if isinstance(step, Loop):
        if not isinstance(step.max_iterations, int) or isinstance(step.max_iterations, bool) or step.max_iterations < 1:
            raise DefinitionError(f"{_where(path)}: max_iterations={step.max_iterations!r} must be a whole number "
                                     "of at least 1")
        if not isinstance(step.index_as, str) or not _VARIABLE.fullmatch(step.index_as):
            raise DefinitionError(f"{_where(path)}: index_as={step.index_as!r} must be a name that can be an "
                                  "environment variable (letters, digits and '_', not starting with a digit)")
        if _reserved(step.index_as):
            raise DefinitionError(f"{_where(path)}: index_as={step.index_as!r} names an environment variable the "
                                  "system or runnable needs; choose another name")
        after = _walk(step.branch, f"{path}.*.", available | {step.index_as}, puts)
        if step.break_on not in after - available:
            raise DefinitionError(f"{_where(path)}: break_on={step.break_on!r} is not returned by a step of its "
                                     "branch; return a boolean of that name from the branch's last task")
        # The iteration number is the branch's own; a value the branch returns under that name
        # (upstream's loops return their counter) is a return like any other.
        return after if step.index_as in returned_names(step.branch) else after - {step.index_as}
    return set()  # a Stub


def _check_task(task: BaseTask, path: str, available: set[str], puts: list[str]) -> set[str]:
    names = [r.name for r in task.returns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DefinitionError(f"{_where(path)} names the return {twice[0]!r} more than once")
    reserved = next((n for n in names if _reserved(n)), None)
    if reserved is not None:
        raise DefinitionError(f"{_where(path)}: a return cannot be named {reserved!r}: later shell tasks get the "
                              "returns as environment variables, and that one the system or runnable needs; "
                              "rename it")
    if isinstance(task, ShellTask):
        if any(r.kind == "pickled" for r in task.returns):
            raise DefinitionError(f"{_where(path)}: a shell task returns exported variables, which are text: "
                                  "declare its returns as plain names or metric(...), not pickled(...)")
        bad = next((n for n in names if not _VARIABLE.fullmatch(n)), None)
        if bad is not None:
            raise DefinitionError(f"{_where(path)}: the return {bad!r} cannot be a shell variable; name it with "
                                  "letters, digits and '_' (not starting with a digit), as the command exports it")
    if isinstance(task, PythonTask):
        missing = [n for n in required_arguments(task.function) if n not in available]
        if missing:
            raise DefinitionError(
                f"{_where(path)}: {getattr(task.function, '__qualname__', 'the function')}() needs the parameter "
                f"{missing[0]!r}, which neither the run's parameters nor an earlier step's returns provide; "
                f"{_known(available)}")
    catalog = task.catalog
    if catalog is not None and catalog.get and catalog.get_from is None:
        for pattern in catalog.get:
            if not any(_overlaps(pattern, put) for put in puts):
                raise DefinitionError(
                    f"{_where(path)}: get pattern {pattern!r} names no file an earlier step puts; inside a pipeline "
                    "get reads this run's catalog: put it in an earlier step, or add get_from=RUN_ID to read "
                    "another run's")
    if catalog is not None:
        puts.extend(catalog.put)
    return set(names)


def returned_names(pipeline: Pipeline) -> set[str]:
    """The names every task of ``pipeline`` returns, in branches and on_failure paths too."""
    return {r.name for _path, task in _tasks(pipeline, "") for r in task.returns}


def required_arguments(function: Callable[..., Any]) -> list[str]:
    """The arguments ``function`` cannot be called without (no default, not ``*args``/``**kwargs``)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: nothing can be told
        return []
    from runnable.params import is_namespace

    return [p.name for p in signature.parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and not is_namespace(p.annotation)]  # (given the other parameters: params.bind)


def _overlaps(get: str, put: str) -> bool:
    """True if a file ``get`` selects could be one ``put`` stored (either pattern may be a glob, and
    a folder pattern covers everything below it)."""
    g, p = get.rstrip("/"), put.rstrip("/")
    return (g == p or fnmatchcase(g, p) or fnmatchcase(p, g) or g.startswith(p + "/") or p.startswith(g + "/")
            or fnmatchcase(g, p + "/*") or fnmatchcase(p, g + "/*"))


def _known(available: set[str]) -> str:
    return f"known here: {', '.join(sorted(available))}" if available else "no parameter is known here"


def reducer(step: Map, path: str) -> Callable[..., Any] | None:
    """The Map's reducer as a function (upstream writes it as the text of a lambda)."""
    given = step.reducer
    if given is None or callable(given):
        return given
    if isinstance(given, str) and given.strip().startswith("lambda"):
        try:
            function = eval(given, {"__builtins__": __builtins__})  # noqa: S307 - the user's own code, as upstream
        except SyntaxError as exc:
            raise DefinitionError(f"{_where(path)}: reducer {given!r} is not valid Python ({exc.msg})") from None
        if callable(function):
            return function  # type: ignore[no-any-return]
    raise DefinitionError(f"{_where(path)}: reducer={given!r} must be a function or the text of a lambda such "
                             "as 'lambda *x: max(x)'")


def structure(pipeline: Pipeline, prefix: str = "") -> list[str]:
    """``path:kind`` of every step, nested ones included, in order: what ``retry`` compares.

    >>> from runnable.pipeline.dsl import Stub
    >>> structure(Pipeline(steps=[Stub(name="a")]))
    ['a:stub']
    """
    out: list[str] = []
    for step in pipeline.steps:
        path = prefix + step.name
        out.append(f"{path}:{step.kind}")
        if step.on_failure is not None:
            out += structure(step.on_failure, f"{path}.on_failure.")
        if isinstance(step, (Parallel, Conditional)):
            for key, branch in step.branches.items():
                out += structure(branch, f"{path}.{key}.")
        elif isinstance(step, (Map, Loop)):
            out += structure(step.branch, f"{path}.*.")
    return out


def declared_returns(pipeline: Pipeline, prefix: str = "") -> dict[str, list[str]]:
    """``{path: ["name (kind)", ...]}`` of every task that declares returns, nested ones included:
    what ``retry`` compares besides ``structure`` (a reused step must have given what later steps
    now expect).

    >>> from runnable.pipeline.dsl import PythonTask
    >>> from runnable.returns import metric
    >>> declared_returns(Pipeline(steps=[PythonTask(name="t", function=len, returns=["n", metric("acc")])]))
    {'t': ['n (json)', 'acc (metric)']}
    """
    out: dict[str, list[str]] = {}
    for step in pipeline.steps:
        path = prefix + step.name
        if isinstance(step, BaseTask) and step.returns:
            out[path] = [f"{r.name} ({r.kind})" for r in step.returns]
        if step.on_failure is not None:
            out.update(declared_returns(step.on_failure, f"{path}.on_failure."))
        if isinstance(step, (Parallel, Conditional)):
            for key, branch in step.branches.items():
                out.update(declared_returns(branch, f"{path}.{key}."))
        elif isinstance(step, (Map, Loop)):
            out.update(declared_returns(step.branch, f"{path}.*."))
    return out
