"""Every error runnable raises on purpose.

    RunnableError
    ├── ConfigurationError (ValueError)     bad configuration file, unknown service type or key
    │   ├── MissingExtraError (ImportError)  a backend needs an optional dependency
    │   └── DefinitionError                  a pipeline's definition is refused before anything runs
    ├── PatternError (ValueError)           a put pattern is absolute, escapes the working folder, ...
    ├── ParameterError (ValueError)         a parameter is missing or cannot be converted
    ├── SecretError (KeyError)              a secret the job asks for is not available
    ├── RunIdError (ValueError)             a run id is malformed or already taken
    ├── RunNotFoundError (KeyError)         no run with that id
    ├── RecordError (ValueError)            a run record is unreadable or names a path it must not
    ├── CatalogError (OSError)              storing or reading catalog content failed
    │   └── IntegrityError                  stored bytes do not match their recorded hash
    ├── RestoreError                        restoring files was refused or failed
    ├── InputError (ValueError)             a job's declared inputs (Catalog get) cannot be read
    ├── UsageError (ValueError)             an argument is not acceptable (a date, a duration, ...)
    ├── ClusterError (ConnectionError)      a Kubernetes cluster cannot be reached or refused a request
    └── JobFailedError                      the job ran and failed (raised by ``execute()``)

Catch ``RunnableError`` to handle any of them.
"""

from __future__ import annotations

from typing import Any


class RunnableError(Exception):
    """Base class of every error runnable raises on purpose."""

    #: Set on an error that refused a pipeline before anything of it ran (a missing parameters file,
    #: a secret not set): uncaught, it ends ``python pipeline.py`` with its one line, as a
    #: DefinitionError does; runnable's frames above it would only bury what to change.
    refused_before_run: bool = False


class ConfigurationError(RunnableError, ValueError):
    """The configuration is invalid: unknown service type, unknown key, wrong value."""


class MissingExtraError(ConfigurationError, ImportError):
    """A configured backend needs an optional dependency that is not installed."""


class DefinitionError(ConfigurationError):
    """A pipeline's definition is refused before anything runs: a duplicate step name, a parameter no
    one provides, a ``get`` no earlier step puts, a structure that changed since the run retried.
    An uncaught one ends ``python pipeline.py`` with its one line, without a traceback."""


class PatternError(RunnableError, ValueError):
    """A catalog put pattern is not acceptable (absolute, escaping, empty)."""


class ParameterError(RunnableError, ValueError):
    """A job parameter is missing or cannot be converted to the annotated type."""


class SecretError(RunnableError, KeyError):
    """A secret the job needs is not available from the secrets backend."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class RunIdError(RunnableError, ValueError):
    """A run id is malformed or already used in this catalog."""


class RunNotFoundError(RunnableError, KeyError):
    """No run with the given id exists in the run-log store."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class RecordError(RunnableError, ValueError):
    """A run record cannot be read, or names a path outside where it may point."""


class CatalogError(RunnableError, OSError):
    """Storing or reading catalog content failed."""


class UnsafeStoredFileError(CatalogError):
    """A file in the catalog is a symbolic link (or not a regular file) where stored content must be:
    it is never read, since it could show any file on the machine as a run's content."""


class IntegrityError(CatalogError):
    """Stored bytes do not match the hash recorded for them.

    ``detail`` says what was expected and what was read, without naming the file.
    """

    detail: str = ""


class RestoreError(RunnableError):
    """Restoring files from a run was refused or failed."""


class InputError(RunnableError, ValueError):
    """A job's declared inputs (``Catalog(get=...)``) could not be read or fetched before it started."""


class UsageError(RunnableError, ValueError):
    """An argument given to a command or function is not acceptable (a date, a duration, ...)."""


class ClusterError(RunnableError, ConnectionError):
    """A Kubernetes API server cannot be reached, or refused what runnable asked of it."""


class JobFailedError(RunnableError):
    """The job ran and failed; ``record`` is its run record (status ``FAIL``).

    ``exit_code`` is set when a command or process failed with one (negative: killed by that signal).
    ``error`` is the exception the job raised, when it ran in this process (None when the job had
    secrets: its text could hold their values).
    """

    def __init__(self, message: str, record: Any = None, exit_code: int | None = None,
                 error: BaseException | None = None) -> None:
        super().__init__(message)
        self.record = record
        self.exit_code = exit_code
        self.error = error
