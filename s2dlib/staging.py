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
    """Make folder `dest` once, safely beside other processes doing the same: under a lock file beside `dest` (one
    builder per folder; the others wait, then find it built), `build(tmp)` writes a per-process staging folder that is
    renamed into place. All the expensive work belongs in `build`, so it runs once. A killed builder's staging folder
    is removed by the next builder (the OS drops a dead process's lock)."""
    import fcntl

    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.with_name(f"{dest.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if dest.exists():
            return dest
        for stale in dest.parent.iterdir():  # a killed builder's staging folder; nobody else holds the lock
            if stale.name.startswith(f"{dest.name}.partial-"):
                shutil.rmtree(stale, ignore_errors=True)
        tmp = staging_path(dest)
        try:
            build(tmp)
            tmp.rename(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest
