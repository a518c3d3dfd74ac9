"""The least that storing many small files in the catalog's layout can cost, in plain Python.

    python benchmarks/layout_floor.py SOURCE_FOLDER CATALOG_FOLDER

Stores every file under SOURCE_FOLDER the way the catalog lays it out on disk, and nothing more:
read it (up to 64 KiB, in one call), hash it (MD5), write its content once under its hash,
crash-safe (a file with no name, linked in whole, as runnable does), and give it its name in the
run's folder as a hard link to that object. Spread over one forked process per CPU, in blocks of 100 files. No run record, no checks of
existing content, no error handling, no progress: a bare loop of the system calls the layout needs.

``catalog_bench.py`` times it as its own process beside ``cp -r`` and runnable for workload 4. Its
ratio to ``cp -r`` is how far the layout itself (two names per file instead of one, a hash, a Python
loop) is from a plain copy, before any of runnable's own work.
"""

from __future__ import annotations

import hashlib
import os
import sys

BLOCK = 100


def files_under(root: str) -> list[str]:
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        found.extend(os.path.relpath(os.path.join(folder, name), root) for name in sorted(names))
    return found


def store(source: str, catalog: str, files: list[str]) -> None:
    made: set[str] = set()
    for rel in files:
        fd = os.open(f"{source}/{rel}", os.O_RDONLY | os.O_CLOEXEC)
        data = os.read(fd, 1 << 16)  # the whole file: this workload's files are 1 KiB
        os.close(fd)
        digest = hashlib.md5(data).hexdigest()
        prefix = f"{catalog}/.objects/md5/{digest[:2]}"
        if prefix not in made:
            os.makedirs(prefix, exist_ok=True)
            made.add(prefix)
        obj = f"{prefix}/{digest[2:]}"
        fd = os.open(prefix, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o444)
        os.write(fd, data)
        try:
            os.link(f"/proc/self/fd/{fd}", obj, src_dir_fd=fd)
        except FileExistsError:
            pass  # the same content twice: the first copy serves both
        os.close(fd)
        name = f"{catalog}/run/{rel}"
        folder = os.path.dirname(name)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        os.link(obj, name)


def main() -> int:
    source, catalog = sys.argv[1], sys.argv[2]
    files = files_under(source)
    processes = len(os.sched_getaffinity(0))
    children = []
    for k in range(processes):
        share = [rel for i, rel in enumerate(files) if (i // BLOCK) % processes == k]
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                store(source, catalog, share)
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    failed = 0
    for pid in children:
        failed |= os.waitpid(pid, 0)[1]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
