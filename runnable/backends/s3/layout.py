"""Where the S3 catalog keeps things: the keys under the prefix, mirroring the file-system catalog
(see ``catalog.py``), and what a small object that stands for another looks like."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runnable.backends.s3.client import (
    _url,
)
from runnable.record import check_rel_path, check_run_id

if TYPE_CHECKING:
    from obstore.store import S3Store

OBJECTS = ".objects"
TMP = f"{OBJECTS}/tmp"  # temporary uploads of earlier versions; still cleaned
BLOBS = f"{OBJECTS}/blobs"

# 8 MiB parts: S3 needs >= 5 MiB per part (except the last) and at most 10,000 parts, so 8 MiB
# covers files up to 78 GiB. 8 parts in flight: on moto (benchmarks/s3_bench.py, 256 MiB) 8 in
# flight streamed 54 MiB/s vs 40 MiB/s with 4, for ~110 MiB peak RSS instead of ~75 MiB; 16 MiB
# parts x 8 were no faster per MiB of memory. Real S3 has more latency per part, so more in flight.
PART_SIZE = 8 * 1024 * 1024
MAX_CONCURRENCY = 8

# Run files in pointer mode carry this metadata instead of the bytes.
_POINTER_TYPE = "application/vnd.runnable.pointer+json"
# A content key whose bytes live in a blob (large files, pointer mode) holds this instead.
_ALIAS_TYPE = "application/vnd.runnable.alias+json"
# Aliases and pointers are JSON of about 150 bytes: only objects this small can be one, so larger
# objects never need a GET to tell (aliases only stand for files larger than one part, >= 5 MiB).
_ALIAS_MAX = 1024
_RUN_FILE_MODES = ("copy", "pointer")


class S3Layout:
    """The keys of objects and run files; the connection and location every part shares
    (set by ``S3Storage.__init__``)."""

    bucket: str
    prefix: str
    endpoint_url: str | None
    location: str
    store_client: S3Store
    _region: str | None
    _secrets_file: str | None

    # -- layout -----------------------------------------------------------------------------
    @staticmethod
    def object_key(algorithm: str, digest: str) -> str:
        return f"{OBJECTS}/{algorithm}/{digest[:2]}/{digest[2:]}"

    @staticmethod
    def run_key(run_id: str, rel: str) -> str:
        return f"{check_run_id(run_id)}/{check_rel_path(rel)}"

    def run_location(self, run_id: str) -> str:
        return _url(self.bucket, self.prefix, check_run_id(run_id))

