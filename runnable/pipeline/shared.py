"""Concurrent branches of a Parallel or Map share the working folder: settle the paths several stored.

``settle`` runs once every branch of the step has ended, before their files are folded into the run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from runnable.files.hashing import hash_file
from runnable.files.put import store_single
from runnable.pipeline.record import forget_output

if TYPE_CHECKING:
    from runnable.pipeline.engine import PipelineRunner
    from runnable.pipeline.state import Branch


def settle(runner: PipelineRunner, run_id: str, working_folder: Path, path: str,
           results: list[tuple[str, Branch]]) -> list[str]:
    """Settle the paths several concurrent branches stored; the reasons to fail the step.

    The branches share the working folder, so a file two of them stored was written by one, or
    by both (one's content then lost). Which one wrote it, only a put naming the file tells:
    - two branches whose put named the path both wrote it: the step fails, naming both;
    - the same content everywhere: one file, found by several globs: nothing to settle;
    - different contents: the version the working folder holds now, after every branch ended,
      is the writer's; a branch whose glob stored another version caught the file half
      written, and that version is dropped from it (entries, files, the run folder's copy).
      If no branch stored the final content, or a branch that named the path is not the one
      that did, the step fails: a version is lost and nothing can tell whose.
    """
    holders: dict[str, list[tuple[str, Branch]]] = {}
    for key, result in results:
        for rel in result.produced.files:
            if not rel.endswith(".execution.log"):
                holders.setdefault(rel, []).append((key, result))
    failures: list[str] = []
    for rel, found in holders.items():
        if len(found) < 2:
            continue
        named = [key for key, result in found if rel in result.produced.named]
        versions = {key: result.produced.files[rel] for key, result in found}
        same = len({v.digest for v in versions.values()}) == 1
        if len(named) > 1:
            how = ("wrote {rel!r} at the same time, in the working folder they share, so one's content is lost"
                   if same else "stored {rel!r}, with different contents, at the same time").format(rel=rel)
            failures.append(f"branches {named[0]!r} and {named[1]!r} of step {path!r} both {how}; give each "
                            "branch's files their own names (with the item or the branch in the name)")
            continue
        if same:
            continue
        any_version = next(iter(versions.values()))
        try:
            final, _size = hash_file(working_folder / rel, any_version.algorithm)
        except OSError:
            final = None
        writers = [key for key, version in versions.items() if version.digest == final]
        if not writers or (named and named[0] not in writers):
            failures.append(f"branches {', '.join(map(repr, versions))} of step {path!r} stored different "
                            f"contents of {rel!r} at the same time, in the working folder they share, and no "
                            "one can tell whose is whose; give each branch's files their own names (with the "
                            "item or the branch in the name)")
            continue
        writer = writers[0]
        for key, result in found:
            if key in writers:
                continue
            dropped = result.produced.files.pop(rel)
            if result.produced.by_path.get(rel, ("", None))[1] == dropped:
                del result.produced.by_path[rel]
            forget_output(result.entries, rel, dropped.digest)
            sys.stderr.write(f"runnable: note: branch {key!r} of step {path!r} matched {rel!r} while branch "
                             f"{writer!r} was writing it; kept as branch {writer!r}'s output only\n")
        kept = versions[writer]
        if kept.stored:  # the run folder's copy: the writer's version, whoever stored last
            again = store_single(runner.storage, run_id, rel, working_folder / rel,
                                 runner.algorithm)
            if again.digest != kept.digest:
                failures.append(f"{rel!r} changed while step {path!r} was settling which branch wrote it")
    return failures
