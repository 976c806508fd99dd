"""What a recorded figure depends on besides the code: package versions, the CPU and its kernels, the git commit."""
from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("torch", "transformers", "peft", "ctranslate2", "datasets", "accelerate", "papermill", "nbconvert",
            "seaborn", "pandas")
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "avx_vnni")


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
            "cpu": cpu_info(), "packages": package_versions()}
