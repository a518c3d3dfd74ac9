"""How selecting files scales with the number of put patterns (``runnable.files.patterns.expand``).

    python benchmarks/patterns_bench.py [files] [patterns]

Makes ``files`` empty files in 20 folders of a temporary folder, then times ``expand`` with one
pattern (``**``) and with ``patterns`` patterns: half globs (``*/f00123.t?t``), half literal paths.
Selection must cost about one walk of the tree whatever the number of patterns: before patterns
were grouped, each glob walked the whole tree again (2,000 patterns took ~100x one pattern).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from runnable.files.patterns import expand


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = []
        for i in range(files):
            folder = root / f"d{i % 20:02d}"
            folder.mkdir(exist_ok=True)
            (folder / f"f{i:05d}.txt").touch()
            names.append(f"d{i % 20:02d}/f{i:05d}")
        patterns = [f"*/{name[4:]}.t?t" if k % 2 else f"{name}.txt" for k, name in enumerate(names[:count])]
        for label, chosen in (("1 pattern", ["**"]), (f"{len(patterns)} patterns", patterns)):
            start = time.perf_counter()
            selection = expand(chosen, root)
            took = time.perf_counter() - start
            print(f"{label:>16}: {len(selection.files):6d} files selected in {took:7.3f} s")


if __name__ == "__main__":
    main()
