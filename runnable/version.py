"""The installed version of runnable."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("runnable")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
