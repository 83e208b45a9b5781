"""Names in a runs dir: the store's file, what a run id may be, and the ids that are reserved.

A runs dir holds one folder per run and a few files of its own (the store and SQLite's
companions, the dashboard's log). A run id names a folder there, so it must be a plain name
(no separators, no traversal) and must not be one of those files.
"""

from __future__ import annotations

import re

from ..errors import RunIdError

STORE_FILENAME = "learnsys.sqlite"
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# Files the runs dir holds besides run folders; any name starting with "learnsys." is kept for
# the store (its -wal/-shm/-journal companions, a copy moved aside by `learnsys doctor`).
RESERVED_PREFIX = "learnsys."
RESERVED_NAMES = frozenset({"dashboard.log"})
NEW_FOLDER_PREFIX = ".new-"   # a run folder being created (runfolder.py); never a valid id


def is_reserved(run_id: str) -> bool:
    low = run_id.lower()  # a case-insensitive file system would make Learnsys.sqlite the store
    return low.startswith(RESERVED_PREFIX) or low in RESERVED_NAMES


def check_run_id(run_id: str) -> str:
    """Return `run_id` if it can name a run folder, else raise RunIdError (one line)."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id) or ".." in run_id:
        raise RunIdError(f"Invalid run id {run_id!r}: use letters, digits, '_', '-' and '.', starting with a "
                         "letter or digit.")
    if is_reserved(run_id):
        raise RunIdError(f"Run id {run_id!r} is reserved: the runs dir keeps its own files under that name "
                         f"(the store {STORE_FILENAME} and its companions, dashboard.log). Choose another --run-id.")
    return run_id
