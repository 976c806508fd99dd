"""What a recorded figure depends on besides the code (package versions, the CPU and its kernels, the git commit), and
what each session of a run cost (`RunLog`)."""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .jsonio import write_json

PACKAGES = ("torch", "transformers", "peft", "ctranslate2", "datasets", "accelerate", "papermill", "nbconvert",
            "seaborn", "pandas")
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "avx_vnni")
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def package_versions(names=PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None where it is not installed)."""
    def ver(p):
        try:
            return version(p)
        except PackageNotFoundError:
            return None

    return {p: ver(p) for p in names}


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the OS reports one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_label(cpu: dict) -> str:
    """`cpu_info()` as one line: the model and the flags it has, e.g. 'AMD EPYC avx2 avx512f'."""
    return " ".join([cpu.get("model", "?"), *(f for f, on in cpu.get("flags", {}).items() if on)])


def cpu_info() -> dict:
    """CPU model, usable cores and the flags that decide which kernels run fast (bf16 units, AMX, VNNI, AVX512)."""
    cores = usable_cores()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return {"model": platform.processor() or None, "cores": cores, "flags": {}}
    model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), None)
    flags = set(next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), []))
    return {"model": model, "cores": cores, "flags": {f: f in flags for f in CPU_FLAGS}}


def transparent_hugepage(path: Path = THP) -> str | None:
    """The kernel's transparent-huge-page mode (always / madvise / never; None where the kernel does not say).
    CTranslate2 on a CPU runs ~1.4x faster with `always` (benchmarks/ct2_pages.py, docs/engines.md), so wall times
    of runs under different modes are not comparable."""
    try:
        return re.search(r"\[(\w+)\]", path.read_text()).group(1)
    except (OSError, AttributeError):
        return None


def git_commit() -> str | None:
    """HEAD's short hash, with '+dirty' when the code (s2dlib/, notebooks/) differs from it: the figures of such a run
    come from no commit."""
    here = Path(__file__).parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=here)
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "s2dlib", "notebooks"], cwd=here.parent,
                               capture_output=True).returncode == 1
    except OSError:
        return None
    return (out.stdout.strip() + ("+dirty" if dirty else "")) or None


def environment() -> dict:
    """Everything a run's figures depend on besides its parameters: code version, interpreter, platform, CPU, packages."""
    return {"git_commit": git_commit(), "python": platform.python_version(), "platform": platform.platform(),
            "cpu": cpu_info(), "transparent_hugepage": transparent_hugepage(), "packages": package_versions()}


class RunLog:
    """This session's entry in a run directory's `sessions.json`: when, how long per stage, how much was generated.
    Rewritten after every stage and every stored chunk of completions, so a run that is stopped and resumed (or
    re-rendered from its cache) still reports what each session cost."""

    def __init__(self, folder: Path, cache):
        self.path, self.cache = folder / "sessions.json", cache
        self.started = datetime.now(timezone.utc)
        self.git = git_commit()  # the code this session imported; a commit made while it runs is not it
        self.thp = transparent_hugepage()  # sessions of one run may differ in it, and their wall times with it
        self.cpu = cpu_label(cpu_info())  # an archived run's sessions may have worked on different machines
        self.timings: dict[str, float] = {}
        self._running: dict[str, float] = {}  # stages under way: their start (perf_counter)
        cache.on_put = self.write  # a killed session still counts the chunks it finished

    @contextmanager
    def stage(self, name: str):
        """Time a stage (accumulated over calls) for the report's stage-by-stage wall times."""
        t0 = self._running[name] = time.perf_counter()
        try:
            yield
        finally:
            del self._running[name]
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0
            self.write()

    def entry(self) -> dict:
        now, clock = datetime.now(timezone.utc), time.perf_counter()
        stages = dict(self.timings)
        for name, t0 in self._running.items():
            stages[name] = stages.get(name, 0.0) + clock - t0
        return {"started_utc": self.started.isoformat(timespec="milliseconds"), "last_utc": now.isoformat(timespec="seconds"),
                "wall_s": round((now - self.started).total_seconds(), 1),
                "stage_s": {k: round(v, 1) for k, v in stages.items()},
                "completions_generated": self.cache.added, "completions_reused": self.cache.reused,
                "git_commit": self.git, "transparent_hugepage": self.thp, "cpu": self.cpu}

    def write(self) -> list[dict]:
        """Every session's entry (the archive's first, `s2d archive`), this one's updated now."""
        me = self.entry()
        archived = self.cache.archive / "sessions.json" if self.cache.archive else None
        past = [e for e in merged_sessions(archived, self.path) if e["started_utc"] != me["started_utc"]]
        write_json(self.path, past + [me])
        return past + [me]


def merged_sessions(*paths: Path | None) -> list[dict]:
    """The session entries of several sessions.json files, each session once, in the order they started."""
    by_start = {}
    for p in paths:
        if p is not None and p.exists():
            by_start.update({e["started_utc"]: e for e in json.loads(p.read_text())})
    return [by_start[k] for k in sorted(by_start)]


def run_provenance(exp, engine: str) -> dict:
    """An `Experiment`'s provenance: its parameters and data, the model's fingerprint, `engine` (the backend that
    generated), the environment, and every session that worked in its run directory."""
    c, sessions = exp.cfg, exp.log.write()
    this = sessions[-1]
    return {
        "experiment": exp.name, "model": c.model, "model_fingerprint": exp.engines.fingerprint, "profile": c.profile,
        "task": c.task, **{p: getattr(c, p) for p in exp.task.params}, "n_train": len(exp.train),
        "n_test": len(exp.test), "n_dev": len(exp.dev), "seed": c.seed, "n_samples": c.n_samples, "n_shots": len(exp.shots),
        "data": str(getattr(exp, "data_path", "")), "run_dir": str(exp.dir),
        "started_utc": exp.log.started.isoformat(timespec="seconds"),
        "finished_utc": this["last_utc"], "wall_s": this["wall_s"], "stage_s": this["stage_s"],
        "engine": engine, **environment(), "git_commit": exp.log.git,
        "completions": {"generated": exp.cache.added, "reused": exp.cache.reused, "skipped_lines": exp.cache.skipped},
        # every session that worked in this run directory; their wall times add up to the run's cost from empty
        "sessions": sessions, "sessions_wall_s": round(sum(e["wall_s"] for e in sessions), 1),
    }
