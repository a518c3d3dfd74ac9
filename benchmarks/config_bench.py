"""What checking the configuration costs at start-up: the hand-written checks, pydantic, msgspec.

    python benchmarks/config_bench.py              # 20 rounds, as in benchmarks/RESULTS.md
    python benchmarks/config_bench.py --rounds 5   # a quick look

Needs ``msgspec`` next to runnable (``pip install msgspec``); pydantic is a dependency already.

Every measurement is a fresh interpreter, because start-up is what a user pays. Each round runs
every contender once, starting with the next one each round, so the noise of a shared machine hits
them alike; the tables show medians and the spread (lowest and highest). Contenders, for each
configuration file (``examples/configs/local.yaml``, ``container.yaml``, ``k8s.yaml``):

* ``floor``: ``python -c pass``;
* ``none``: read the file (``runnable.yamlfile``) and import each section's backend, no checks: what
  any of the three approaches pays anyway, since a run builds those backends;
* ``hand``: ``runnable.config.loading.load(file)``, as a job run does (``runnable/config/settings.py``);
* ``pydantic``: the same rules as pydantic v2 models (strict, unknown keys forbidden), each built
  from the backend constructor's annotations as ``settings.check_types`` reads them;
* ``msgspec``: the same with ``msgspec.defstruct`` and ``msgspec.convert`` (strict by default);

and a trivial job (``PythonJob`` of a function that returns None, with ``local.yaml``) as it is
(``job``), and with the pydantic or msgspec checks run first (``job+pydantic``, ``job+msgspec``:
an upper bound, since the hand-written checks still run too; they cost well under a millisecond
once imported, see the ``check`` column). Then ``-X importtime`` runs of each contender give the
import time of the library alone. Last, three typical mistakes and each contender's message.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SECTIONS = ("catalog", "run-log-store", "job-executor", "secrets")


# ---------------------------------------------------------------------------------------------
# The contenders, run in a child interpreter (``child``) or in this process (the error messages).
# ---------------------------------------------------------------------------------------------


def _read(path: str) -> Any:
    from runnable.errors import ConfigurationError
    from runnable.yamlfile import read_yaml

    return read_yaml(path, "configuration file", ConfigurationError)


def _hints(cls: Any) -> dict[str, tuple[Any, Any]]:
    """Each constructor parameter of ``cls``: (annotation, default or ...), as settings.check_types
    resolves them (one by one; one that cannot be resolved is Any, left to the backend)."""
    import inspect
    import typing

    function = cls.__init__
    namespace = getattr(inspect.unwrap(function), "__globals__", {})
    out: dict[str, tuple[Any, Any]] = {}
    for name, parameter in inspect.signature(cls).parameters.items():
        if parameter.kind not in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            continue
        annotation: Any = Any
        if parameter.annotation is not parameter.empty:
            try:
                holder = type("H", (), {"__annotations__": {name: parameter.annotation}})
                annotation = typing.get_type_hints(holder, globalns=namespace)[name]
            except (NameError, TypeError, AttributeError, SyntaxError):
                annotation = Any
        out[name] = (_plain(annotation), ... if parameter.default is parameter.empty else parameter.default)
    return out


def _plain(annotation: Any) -> Any:
    """``annotation`` with ``os.PathLike[...]`` as ``str`` (YAML gives strings; msgspec has no PathLike)."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    if annotation is os.PathLike or origin is os.PathLike:
        return str
    if origin in (typing.Union, types.UnionType):
        options = tuple(dict.fromkeys(_plain(a) for a in typing.get_args(annotation)))
        return typing.Union[options] if len(options) > 1 else options[0]  # noqa: UP007 - built at run time
    return annotation


def _sections(data: Any, resolve: Any) -> list[tuple[str, str, dict[str, Any], Any]]:
    """(section, type, settings, backend class) of each section: the part every approach keeps."""
    from runnable.config.loading import DEFAULTS

    out = []
    for section in SECTIONS:
        raw = (data or {}).get(section) or {}
        type_name = raw.get("type", DEFAULTS[section]["type"])
        config = {**DEFAULTS[section]["config"], **(raw.get("config") or {})}
        out.append((section, type_name, config, resolve(section, type_name)))
    return out


def _paths(section: str, type_name: str, config: dict[str, Any], source: str) -> None:
    """The path rules ('~' expanded, '$NAME' refused): kept by any approach (``settings.check_path``)."""
    from runnable.config.loading import PATH_SETTINGS
    from runnable.settings import check_path

    setting = PATH_SETTINGS.get((section, type_name))
    if setting and config.get(setting.key) is not None:
        config[setting.key] = check_path(
            config[setting.key], setting.key, section, source, setting.kind, setting.default
        )


def check_none(path: str) -> Any:
    from runnable.registry import resolve

    return _sections(_read(path), resolve)


def check_hand(path: str) -> Any:
    import runnable.config.loading

    return runnable.config.loading.load(path)


def check_pydantic(path: str) -> Any:
    from typing import Literal

    from pydantic import BaseModel, ConfigDict, Field, create_model

    from runnable.hashing import ALGORITHMS
    from runnable.registry import resolve

    strict = ConfigDict(extra="forbid", strict=True)

    class Section(BaseModel):
        model_config = strict
        type: str | None = None
        config: dict[str, Any] | None = None

    fields: Any = {s.replace("-", "_"): (Section | None, Field(None, alias=s)) for s in SECTIONS}
    top = create_model("configuration", __config__=strict, **fields)
    data = _read(path)
    top.model_validate(data or {})
    out = []
    for section, type_name, config, cls in _sections(data, resolve):
        hints: Any = _hints(cls)
        if section == "catalog":
            hints["hash_algorithm"] = (Literal[ALGORITHMS], "md5")
        model = create_model(f"{section} ({type_name})", __config__=strict, **hints)
        out.append(model.model_validate(config))
        _paths(section, type_name, config, repr(path))
    return out


def check_msgspec(path: str) -> Any:
    from typing import Literal

    import msgspec

    from runnable.hashing import ALGORITHMS
    from runnable.registry import resolve

    section_type = msgspec.defstruct(
        "Section", [("type", str | None, None), ("config", dict[str, Any] | None, None)], forbid_unknown_fields=True
    )
    top = msgspec.defstruct(
        "configuration",
        [(s.replace("-", "_"), section_type | None, msgspec.field(default=None, name=s)) for s in SECTIONS],
        forbid_unknown_fields=True,
    )
    data = _read(path)
    msgspec.convert(data or {}, top)
    out = []
    for section, type_name, config, cls in _sections(data, resolve):
        hints = _hints(cls)
        if section == "catalog":
            hints["hash_algorithm"] = (Literal[ALGORITHMS], "md5")
        struct = msgspec.defstruct(
            f"{section} ({type_name})",
            [
                (name, annotation) if default is ... else (name, annotation, default)
                for name, (annotation, default) in hints.items()
            ],
            forbid_unknown_fields=True,
            kw_only=True,
        )
        out.append(msgspec.convert(config, struct))
        _paths(section, type_name, config, repr(path))
    return out


CHECKS = {"none": check_none, "hand": check_hand, "pydantic": check_pydantic, "msgspec": check_msgspec}
LIBRARY = {"pydantic": "pydantic", "msgspec": "msgspec"}


def child(variant: str, path: str) -> None:
    """Run in a fresh interpreter: import + check ``path`` with ``variant``; print the milliseconds
    spent importing the library and checking (second check of the same file: warm)."""
    start = time.perf_counter()
    if variant in LIBRARY:
        __import__(LIBRARY[variant])
    imported = time.perf_counter()
    CHECKS[variant](path)
    checked = time.perf_counter()
    CHECKS[variant](path)  # again, everything imported: what the checks themselves cost
    again = time.perf_counter()
    print(f"{(imported - start) * 1e3:.3f} {(checked - imported) * 1e3:.3f} {(again - checked) * 1e3:.3f}")


# ---------------------------------------------------------------------------------------------
# The parent: rounds of fresh interpreters, -X importtime, the error messages, the tables.
# ---------------------------------------------------------------------------------------------

JOB = """\
import sys
variant, config = sys.argv[1], sys.argv[2]
if variant != "hand":
    sys.path.insert(0, {here!r})
    import config_bench
    config_bench.CHECKS[variant](config)
from runnable import PythonJob

def nothing():
    return None

PythonJob(function=nothing).execute(configuration_file=config)
"""

# Three typical mistakes, each written into a copy of an example file: (file, old text, new text).
MISTAKES = [
    ("unknown key (a typo)", "local.yaml", "    catalog_location: .catalog", "    catalog_locaton: .catalog"),
    (
        "wrong type (a quoted boolean)",
        "container.yaml",
        "  config:\n    image:",
        '  config:\n    dry_run: "false"\n    image:',
    ),
    ("bad enum value", "k8s.yaml", "    namespace: ml", "    namespace: ml\n    image_pull_policy: always"),
]


def _importtime(stderr: str, prefixes: tuple[str, ...]) -> tuple[float, float]:
    """(all imports, those of packages starting with ``prefixes``) in ms, from ``-X importtime``.

    The lines come children first; a module counts with its cumulative time unless a package it
    was imported from already counts (the same prefix, further out)."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((depth, name.strip(), int(cumulative)))
    total = sum(c for d, _, c in rows if d == 0)
    library = 0
    matched_at: dict[int, bool] = {}  # depth -> is the current ancestor at that depth counted
    for depth, name, cumulative in reversed(rows):  # parents first
        outer = any(matched_at.get(d, False) for d in range(depth))
        mine = name.split(".")[0] in prefixes
        matched_at[depth] = mine or outer
        for d in [d for d in matched_at if d > depth]:
            del matched_at[d]
        if mine and not outer:
            library += cumulative
    return total / 1e3, library / 1e3


def main() -> None:
    import argparse
    import shutil
    import statistics
    import subprocess
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--importtime-rounds", type=int, default=10)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="config-bench-")
    configs = {}
    for name in ("local.yaml", "container.yaml", "k8s.yaml"):
        configs[name] = os.path.join(work, name)
        shutil.copy(os.path.join(ROOT, "examples", "configs", name), configs[name])
    job_script = os.path.join(work, "job.py")
    with open(job_script, "w") as f:
        f.write(JOB.format(here=HERE))
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("RUNNABLE_CONFIGURATION_FILE", None)
    python = sys.executable
    # Byte-compile once, so no contender pays for writing .pyc files.
    subprocess.run([python, "-m", "compileall", "-q", os.path.join(ROOT, "runnable"), HERE], check=True)

    contenders: list[tuple[str, list[str]]] = [("floor", [python, "-c", "pass"])]
    for config in configs:
        for variant in CHECKS:
            code = f"import config_bench; config_bench.child({variant!r}, {configs[config]!r})"
            contenders.append((f"{variant} {config}", [python, "-c", code]))
    for variant in ("hand", "pydantic", "msgspec"):
        name = "job" if variant == "hand" else f"job+{variant}"
        contenders.append((name, [python, job_script, variant, configs["local.yaml"]]))

    wall: dict[str, list[float]] = {name: [] for name, _ in contenders}
    inner: dict[str, list[list[float]]] = {name: [] for name, _ in contenders}
    for round_ in range(args.rounds):
        for i in range(len(contenders)):
            name, command = contenders[(round_ + i) % len(contenders)]
            start = time.perf_counter()
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                sys.exit(f"{name} failed:\n{done.stderr}")
            wall[name].append(elapsed * 1e3)
            if not name.startswith(("floor", "job")):
                inner[name].append([float(x) for x in done.stdout.split()])
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)

    imports: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in contenders}
    for round_ in range(args.importtime_rounds):
        for i in range(len(contenders)):
            name, command = contenders[(round_ + i) % len(contenders)]
            done = subprocess.run(
                [command[0], "-X", "importtime", *command[1:]], cwd=work, env=env, capture_output=True, text=True
            )
            prefixes = (
                ("msgspec",)
                if "msgspec" in name
                else ("pydantic", "pydantic_core", "annotated_types", "typing_inspection")
            )
            imports[name].append(_importtime(done.stderr, prefixes))

    def med(values: list[float]) -> float:
        return statistics.median(values)

    floor = med(wall["floor"])
    print(
        f"\nMeasured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python {sys.version.split()[0]}, "
        f"{args.rounds} rounds, load average {os.getloadavg()[0]:.1f}; times in ms."
    )
    versions = []
    for module in ("pydantic", "msgspec"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            versions.append(f"{module} missing")
    print(", ".join(versions) + "\n")
    print(
        "| contender | wall median | spread (min-max) | over floor | x hand | -X importtime: all / library | library import | first check | check again |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, _ in contenders:
        values = wall[name]
        hand = "hand " + name.split(" ")[1] if " " in name else "job"
        ratio = (med(values) - floor) / (med(wall[hand]) - floor) if name != "floor" else float("nan")
        total, library = (med([t for t, _ in imports[name]]), med([lib for _, lib in imports[name]]))
        row = [
            f"`{name}`",
            f"{med(values):.1f}",
            f"{min(values):.0f}-{max(values):.0f}",
            f"{med(values) - floor:+.1f}" if name != "floor" else "",
            f"{ratio:.2f}" if name != "floor" else "",
            f"{total:.1f} / {library:.1f}",
        ]
        if inner[name]:
            row += [f"{med([x[i] for x in inner[name]]):.2f}" for i in range(3)]
        else:
            row += ["", "", ""]
        print("| " + " | ".join(row) + " |")
    budget = floor + 100
    print(f"\nBudget: a trivial job <= python -c pass + 100 ms = {budget:.0f} ms")
    quiet = min(wall["floor"]) + 100  # the fastest runs: closest to what an idle machine gives
    for name in ("job", "job+pydantic", "job+msgspec"):
        verdict = "meets" if med(wall[name]) <= budget else "misses"
        fastest = "meets" if min(wall[name]) <= quiet else "misses"
        print(
            f"  {name}: median {med(wall[name]):.0f} ms ({med(wall[name]) - floor:+.0f} over the floor): {verdict} it; "
            f"fastest run {min(wall[name]):.0f} ms ({min(wall[name]) - min(wall['floor']):+.0f} over the fastest "
            f"floor): {fastest} it"
        )

    print("\nError messages for three typical mistakes:")
    sys.path.insert(0, HERE)
    for title, source, old, new in MISTAKES:
        with open(configs[source]) as f:
            text = f.read()
        assert old in text, (source, old)
        broken = os.path.join(work, "mistake-" + source)
        with open(broken, "w") as f:
            f.write(text.replace(old, new, 1))
        changed = [line.strip() for line in new.splitlines() if line not in old.splitlines()]
        print(f"\n### {title}: `{changed[0]}` in {source}")
        for variant in ("hand", "pydantic", "msgspec"):
            try:
                CHECKS[variant](broken)
                message = "(accepted)"
            except Exception as exc:  # noqa: BLE001 - any library's error, shown as it is
                message = f"{type(exc).__name__}: {exc}".replace(work + os.sep, "")
            print(f"- {variant}:\n" + "\n".join("      " + line for line in message.splitlines()))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
