"""The JSON files s2d reads and writes: JSONL rows (users' data, training pairs, the completion cache) and whole
records written so that no reader sees half a file."""
from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path


def read_jsonl(path: str | Path, on_bad: Callable[[int, ValueError], None] | None = None) -> Iterator[tuple[int, object]]:
    """(line number, row) for each non-blank line. A line that is not UTF-8 JSON raises a ValueError naming the file
    and line, or, given `on_bad(line number, error)`, is handed to it and skipped (a cache line cut by a kill). A
    path ending in .gz is read through gzip."""
    # bytes: a line with a broken character fails alone, not the whole file
    with (gzip.open if str(path).endswith(".gz") else open)(path, "rb") as f:
        for i, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
                if on_bad is None:
                    reason = getattr(e, "msg", None) or getattr(e, "reason", str(e))
                    raise ValueError(f"data file {str(path)!r} line {i} is malformed JSON ({reason})") from None
                on_bad(i, e)
                continue
            yield i, row


def write_json(path: Path, obj) -> None:
    """Write through a temporary file, so a reader (or a kill) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    tmp.replace(path)
