"""Fixtures of the fault suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults.helpers import md5_of


@pytest.fixture(scope="session")
def large_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 200 MiB file of incompressible-looking content, made once per session; (path, md5)."""
    path = tmp_path_factory.mktemp("large") / "big.bin"
    block = os.urandom(1 << 20)
    with open(path, "wb") as handle:
        for i in range(200):
            handle.write(i.to_bytes(8, "little") + block[8:])
    return path, md5_of(path)
