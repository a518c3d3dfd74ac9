"""What a Python job returns, by kind: a JSON value, a metric, or a pickled object.

``PythonJob(function=train, returns=["n_rows", metric("accuracy"), pickled("model"), json("report")])``

- a plain name or ``json(name)``: the value is kept in the record's ``returns`` as JSON (a pydantic
  model as its JSON form); a value JSON cannot hold fails the run, naming the return;
- ``metric(name)``: a number, or a list of numbers (one per step, e.g. per epoch), kept in the
  record's ``metrics`` as a history of ``[step, value]`` pairs;
- ``pickled(name)``: the object is pickled into the run's catalog, content-addressed like any stored
  file, and listed in the record's ``objects`` with its hash and size; ``get_run(id).load(name)``
  reads it back. Unpickling runs code: load objects only from catalogs you trust.
"""

from __future__ import annotations

import json as _json
import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from runnable.errors import ConfigurationError, ParameterError

#: Where a pickled return is presented inside the run's folder of the catalog. A put pattern cannot
#: select it: runnable writes it, from the scratch folder, under this reserved prefix.
OBJECTS_PREFIX = ".runnable-objects"


@dataclass(frozen=True)
class Return:
    """One declared return value of a PythonJob: its name and how it is kept."""

    name: str
    kind: ClassVar[str] = "json"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name or "\0" in self.name:
            raise ConfigurationError(
                f"{type(self).__name__}({self.name!r}): a return needs a non-empty name without '/'"
            )


class json(Return):  # noqa: N801 - upstream runnable's name, used as ``returns=[json("report")]``
    """A return kept in the record as JSON (the default for a plain name)."""

    kind = "json"


class metric(Return):  # noqa: N801 - upstream runnable's name
    """A return that is a number or a list of numbers, kept in the record's ``metrics``."""

    kind = "metric"


class pickled(Return):  # noqa: N801 - upstream runnable's name
    """A return that is pickled into the run's catalog; read it back with ``Run.load(name)``.

    Unpickling runs code: load objects only from catalogs you trust.
    """

    kind = "pickled"


def declared(values: Sequence[str | Return] | str | Return, what: str) -> list[Return]:
    """The returns a job declares, as Return objects (a plain name is ``json(name)``)."""
    if isinstance(values, (str, Return)):
        values = [values]
    if isinstance(values, (bytes, bytearray)) or not isinstance(values, Sequence):
        raise TypeError(f"{what} takes a list of names or metric()/pickled()/json() returns, not {values!r}")
    out: list[Return] = []
    for item in values:
        if isinstance(item, str):
            out.append(json(item))
        elif isinstance(item, Return):
            out.append(item)
        else:
            raise TypeError(
                f"{what} takes names (strings) or metric()/pickled()/json() returns; {item!r} in it is a "
                f"{type(item).__name__}"
            )
    return out


@dataclass
class Collected:
    """The returns of one call, sorted by kind, ready for the record."""

    values: dict[str, Any] = field(default_factory=dict)  # JSON returns
    metrics: dict[str, list[list[float]]] = field(default_factory=dict)  # name -> [[step, value], ...]
    objects: list[tuple[str, Path]] = field(default_factory=list)  # (name, pickle file in scratch)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        # numpy scalars and the like: anything that converts exactly to a float
        item = getattr(value, "item", None)
        if callable(item) and not isinstance(value, bool):
            try:
                value = item()
            except (TypeError, ValueError):
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None
        else:
            return None
    number = float(value)
    return number if math.isfinite(number) else None


def metric_history(name: str, value: Any) -> list[list[float]]:
    """``value`` (a number, or a list of numbers) as ``[[step, value], ...]``, or ParameterError."""
    single = _number(value)
    if single is not None:
        return [[0, single]]
    if isinstance(value, (list, tuple)) and value:
        numbers = [_number(v) for v in value]
        if all(n is not None for n in numbers):
            return [[step, n] for step, n in enumerate(numbers) if n is not None]
    shown = repr(value)
    shown = shown if len(shown) < 60 else shown[:57] + "..."
    raise ParameterError(
        f"metric {name!r} must be a finite number or a non-empty list of them, not the "
        f"{type(value).__name__} {shown}; return it as json({name!r}) or pickled({name!r}) instead"
    )


def json_value(name: str, value: Any) -> Any:
    """``value`` as JSON data (a pydantic model as its JSON form), or ParameterError naming it."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        value = dump(mode="json")
    try:
        text = _json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"return {name!r} is a {type(value).__name__}, which JSON cannot hold ({exc}); declare it as "
            f"pickled({name!r}) to keep the object in the catalog"
        ) from None
    return _json.loads(text)  # what the record will read back: tuples become lists


def collect(declared_returns: Sequence[Return], values: Sequence[Any], scratch: Path) -> Collected:
    """Sort ``values`` (one per declared return) by kind; pickled ones are written to ``scratch``."""
    out = Collected()
    for spec, value in zip(declared_returns, values, strict=True):
        if spec.kind == "metric":
            out.metrics[spec.name] = metric_history(spec.name, value)
        elif spec.kind == "pickled":
            folder = scratch / "objects"
            folder.mkdir(exist_ok=True)
            path = folder / f"{len(out.objects)}.pickle"
            try:
                data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # noqa: BLE001 - any pickling failure, named
                raise ParameterError(f"return {spec.name!r} cannot be pickled: {type(exc).__name__}: {exc}") from None
            path.write_bytes(data)
            out.objects.append((spec.name, path))
        else:
            out.values[spec.name] = json_value(spec.name, value)
    return out


def object_path(name: str) -> str:
    """Where the pickled return ``name`` is presented in the run's folder of the catalog."""
    return f"{OBJECTS_PREFIX}/{name}.pickle"
