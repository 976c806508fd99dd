"""Append-only, content-addressed store of completions: resume = generate only what is not there yet.

One JSONL file per experiment. Each line is one completion with its key and a checksum of the line's payload,
written and flushed as a batch finishes; a truncated, garbled or foreign line is skipped with a warning naming
the file and line, and is never counted as finished work.

An experiment may also have an archive: a committed folder of gzipped chunks in the same format (`s2d archive`),
read before the run's own file. A run that outlasts one machine resumes on the next from what was archived.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from .engines.base import Completion, Engine, Messages, Sampling
from .jsonio import read_jsonl


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def completion_key(fingerprint: str, messages: Messages, sampling: Sampling, index: int) -> str:
    return _digest({"model": fingerprint, "messages": messages, "sampling": sampling.key_fields(), "index": index})


def _line(key: str, c: Completion) -> str:
    payload = {"key": key, "text": c.text, "n_tokens": c.n_tokens}
    return json.dumps({**payload, "check": _digest(payload), "seconds": c.seconds}, ensure_ascii=False) + "\n"


class CompletionCache:
    def __init__(self, path: str | Path, archive: str | Path | None = None):
        self.path = Path(path)
        self.archive = Path(archive) if archive else None  # folder of *.jsonl.gz chunks (`export`), read-only here
        self.records: dict[str, Completion] = {}
        self.archived: set[str] = set()  # keys the archive holds
        self.skipped = 0  # unreadable lines seen on load
        self.added = 0  # completions generated and stored by this process
        self.reused = 0  # completions served from what was already stored
        self.on_put = None  # called after each stored chunk (the run's session log follows the work as it lands)
        for chunk in self.chunks():
            self.archived |= self._load(chunk)
        if self.path.exists():
            self._load(self.path)

    def chunks(self) -> list[Path]:
        return sorted(self.archive.glob("*.jsonl.gz")) if self.archive and self.archive.is_dir() else []

    def _load(self, path: Path) -> set[str]:
        keys = set()
        for lineno, rec in read_jsonl(path, on_bad=lambda i, e: self._skip(path, i, e)):
            try:
                payload = {k: rec[k] for k in ("key", "text", "n_tokens")}
                if rec["check"] != _digest(payload):
                    raise ValueError("checksum mismatch")
            except (ValueError, KeyError, TypeError) as e:
                self._skip(path, lineno, e)
                continue
            self.records[rec["key"]] = Completion(rec["text"], rec["n_tokens"], rec.get("seconds", 0.0))
            keys.add(rec["key"])
        return keys

    def _skip(self, path: Path, lineno: int, e: Exception) -> None:
        self.skipped += 1
        warnings.warn(f"{path}:{lineno}: unreadable cache record skipped ({e.__class__.__name__}: {e})")

    def export(self) -> Path | None:
        """Write the completions the archive lacks as one new gzipped chunk (earlier chunks stay as they are, so a
        committed archive grows by what each session added); None when there is nothing new."""
        if self.archive is None:
            raise ValueError("export: this cache has no archive folder")
        new = [(k, c) for k, c in self.records.items() if k not in self.archived]
        if not new:
            return None
        self.archive.mkdir(parents=True, exist_ok=True)
        data = "".join(_line(k, c) for k, c in new).encode("utf-8")
        # date for the reader, content digest so that two exports (same second, two machines) never share a name
        out = self.archive / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{hashlib.sha256(data).hexdigest()[:8]}.jsonl.gz"
        tmp = out.with_suffix(".tmp")
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:  # mtime 0: same bytes
            f.write(data)
        tmp.replace(out)
        self.archived.update(k for k, _ in new)
        return out

    def get(self, key: str) -> Completion | None:
        return self.records.get(key)

    def put_many(self, items: list[tuple[str, Completion]], fresh: bool = True) -> None:
        """Store completions; `fresh=False` for ones copied under a new key, which do not count as generated."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = [_line(key, c) for key, c in items]
        self.records.update(items)
        self.added += len(items) if fresh else 0
        with open(self.path, "a", encoding="utf-8") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
        if self.on_put is not None:
            self.on_put()


class CachedEngine:
    """Wraps an Engine: serves finished completions from the cache, generates the rest in chunks of `chunk` rows
    (prompts x samples) and stores each chunk as soon as it is done. Given a function that builds the engine and the
    fingerprint it will have, nothing is built until a completion is missing."""

    def __init__(self, engine: Engine | Callable[[], Engine], cache: CompletionCache, chunk: int = 16,
                 fingerprint: str | None = None):
        self.cache, self.chunk = cache, chunk
        self._engine, self._build = (None, engine) if fingerprint is not None else (engine, None)
        self.fingerprint = fingerprint if fingerprint is not None else engine.fingerprint

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            eng = self._build()
            if eng.fingerprint != self.fingerprint:  # the backend's own identity must be the one the keys used
                raise RuntimeError(f"engine fingerprint {eng.fingerprint!r} != expected {self.fingerprint!r}")
            self._engine = eng
        return self._engine

    def generate(self, prompts: list[Messages], sampling: Sampling, desc: str = "generate") -> list[list[Completion]]:
        keys = [[completion_key(self.fingerprint, m, sampling, i) for i in range(sampling.n)] for m in prompts]
        if sampling.greedy:
            self._reuse_shorter_caps(prompts, keys, sampling)
        if self._engine is None and all(self.cache.get(k) is not None for ks in keys for k in ks):
            self.cache.reused += sum(map(len, keys))  # all stored: no model is loaded (or trained) for them
            return [[self.cache.get(k) for k in ks] for ks in keys]
        # Chunks are cut from the full prompt list at fixed positions and a sampled chunk is regenerated whole when
        # any of it is missing, so a resumed run sees the same batches (and seeds) as an uninterrupted one. Each
        # chunk is flushed before the next starts: an interruption loses at most one chunk.
        # Identical prompts share keys, so they are generated once (and agree with what a resumed run reads back).
        first: dict[str, int] = {}
        for j, ks in enumerate(keys):
            first.setdefault(ks[0], j)
        unique = list(first.values())
        # Similar lengths share a chunk: less padding (transformers) and fewer prompt tokens fed one step at a time
        # (CTranslate2 prefills a batch only up to its shortest prompt). The order depends only on the prompts.
        size = getattr(self.engine, "prompt_tokens", None) or (lambda m: len(json.dumps(m, ensure_ascii=False)))
        unique.sort(key=lambda j: size(prompts[j]))
        per_chunk = max(1, self.chunk // sampling.n)
        # Greedy: no seeds to keep in step, so finished rows (e.g. reused from a smaller cap) stay and the missing ones,
        # still in length order, fill whole chunks (a batch of one or two is several times slower).
        rows = [j for j in unique if self.cache.get(keys[j][0]) is None] if sampling.greedy else unique
        chunks = [rows[s : s + per_chunk] for s in range(0, len(rows), per_chunk)]
        todo = [c for c in chunks if any(self.cache.get(k) is None for j in c for k in keys[j])]
        self.cache.reused += sum(len(keys[j]) for j in unique) - sum(len(keys[j]) for c in todo for j in c)
        with tqdm(total=sum(map(len, todo)), desc=desc, unit="prompt", disable=not todo) as bar:
            for idx in todo:
                fresh = self.engine.generate([prompts[j] for j in idx], sampling, desc=desc)
                self.cache.put_many([(keys[j][i], c) for j, cs in zip(idx, fresh) for i, c in enumerate(cs)])
                bar.update(len(idx))
        return [[self.cache.get(k) for k in ks] for ks in keys]

    def _reuse_shorter_caps(self, prompts: list[Messages], keys: list[list[str]], sampling: Sampling) -> None:
        """Under the Engine contract (a greedy reply depends only on model, prompt and settings), a reply that ended
        before a smaller max_new_tokens is also the reply under this one: raising a cap regenerates only the replies
        the smaller cap cut. As sound as resuming from the cache, no more: int8 CTranslate2 drifts slightly with batch
        composition. (Scanning every smaller cap costs milliseconds per missing prompt, against seconds to generate.)"""
        found: dict[str, Completion] = {}
        for m, (key,) in zip(prompts, keys):
            if key in found or self.cache.get(key) is not None:
                continue
            for cap in range(sampling.max_new_tokens - 1, 0, -1):
                c = self.cache.get(completion_key(self.fingerprint, m, replace(sampling, max_new_tokens=cap), 0))
                if c is not None and c.n_tokens < cap:
                    found[key] = c
                    break
        if found:
            self.cache.put_many(list(found.items()), fresh=False)
