"""Folders built once and safely beside other processes doing the same (packaged models, the tiny model, CTranslate2
conversions): a per-process staging folder renamed into place."""
from __future__ import annotations

import os
import shutil
from pathlib import Path


def staging_path(path: Path) -> Path:
    """A staging name unique to this process, next to `path` (with_suffix would cut 'qwen2.5-coder-1.5b' at its dot)."""
    return path.with_name(f"{path.name}.partial-{os.getpid()}")


def build_folder(dest: Path, build) -> Path:
    """Make folder `dest` once, safely beside other processes doing the same: `build(tmp)` writes a per-process staging
    folder that is renamed into place; if another process got there first its (identical) folder is kept. The staging
    folder never outlives the call."""
    tmp = staging_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        build(tmp)
        try:
            tmp.rename(dest)
        except OSError:
            if not dest.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
