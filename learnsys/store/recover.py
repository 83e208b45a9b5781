"""A run's store row rebuilt from its folder: the folder is the source of truth.

`row_from_folder(folder)` reads what the folder says of itself (spec.toml or spec.json,
meta.json, the checkpoint files' names) without importing the rest of learnsys. The store
uses it when a run has a folder but no row (a store deleted or rebuilt, a creation killed
between its two steps), and `learnsys doctor` for every run of a damaged store.
Metric history and events lived only in the store: a rebuilt row has none.
"""

from __future__ import annotations

import json
import re
import time
import tomllib
from pathlib import Path

from ..errors import StoreError
from .names import NEW_FOLDER_PREFIX, RUN_ID_PATTERN, is_reserved

CHECKPOINT_FILE = re.compile(r"^step-(\d+)\.pt$")   # train/checkpoint.py names them so
REBUILT = "row rebuilt from the run folder; metrics recorded before that are not in the store"


def run_folders(runs_dir: Path) -> list[Path]:
    """The run folders of a runs dir: folders with a valid, unreserved id and a spec file."""
    try:
        entries = sorted(runs_dir.iterdir())
    except OSError:
        return []
    return [p for p in entries if p.is_dir() and RUN_ID_PATTERN.match(p.name) and not is_reserved(p.name)
            and ((p / "spec.toml").is_file() or (p / "spec.json").is_file())]


def half_made_folders(runs_dir: Path) -> list[Path]:
    """Folders a creation left behind when it was killed before its run appeared."""
    try:
        return sorted(p for p in runs_dir.iterdir() if p.name.startswith(NEW_FOLDER_PREFIX) and p.is_dir())
    except OSError:
        return []


def checkpoint_steps(folder: Path) -> list[int]:
    try:
        names = [p.name for p in (folder / "checkpoints").iterdir()]
    except OSError:
        return []
    return sorted(int(m.group(1)) for m in map(CHECKPOINT_FILE.match, names) if m)


def row_from_folder(folder: Path) -> dict | None:
    """The store row of the run in `folder`, or None when it is not a run folder."""
    toml_path, json_path = folder / "spec.toml", folder / "spec.json"
    try:
        if toml_path.is_file():
            spec, kind, source = tomllib.loads(toml_path.read_text(encoding="utf-8")), "train", toml_path
        elif json_path.is_file():
            spec, source = json.loads(json_path.read_text(encoding="utf-8")), json_path
            kind = str(spec.get("kind", "search")) if isinstance(spec, dict) else "search"
        else:
            return None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise StoreError(f"Run folder {folder} has an unreadable spec ({e}); its run cannot be rebuilt.") from None
    if not isinstance(spec, dict):
        raise StoreError(f"Run folder {folder} has a spec that is not a table; its run cannot be rebuilt.")
    steps = checkpoint_steps(folder)
    try:
        created = min(p.stat().st_mtime for p in (source, folder / "meta.json") if p.exists())
    except OSError:
        created = time.time()
    return {"id": folder.name, "kind": kind, "status": "stopped" if steps or kind != "train" else "created",
            "created": created, "folder": str(folder.resolve()), "data": _text(spec.get("data")),
            "model": _text(spec.get("model")), "spec": spec, "step": steps[-1] if steps else 0, "message": REBUILT}


def _text(value) -> str | None:
    return None if value is None else str(value)
