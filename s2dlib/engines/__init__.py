"""Generation backends behind one interface (`Engine`); `make_engine` picks one from the experiment's parameters."""
from __future__ import annotations

import functools

from .base import Completion, Engine, Messages, Sampling

__all__ = ["Completion", "Engine", "EngineSlot", "Messages", "Sampling", "fingerprint", "make_engine", "release",
           "resolve_engine"]


def resolve_engine(name: str) -> str:
    """'auto' -> the fastest installed backend for this hardware, end to end, as measured (benchmarks/engines.py,
    benchmarks/adapter_serving.py; dated figures and CPUs in docs/engines.md): vLLM on a GPU; CTranslate2 int8 on a
    CPU, with or without bf16 units (vLLM's CPU build generates System 2 ~2x faster on a CPU with bf16 units and serves
    merged adapters at about the same cost, ~20 of a power RaR notebook's ~150 minutes, but the set-up command does not
    install it);
    transformers when neither is installed. Other names pass through."""
    if name != "auto":
        return name
    import torch

    from .ct2 import available as ct2_available
    from .vllm import available as vllm_available

    if torch.cuda.is_available():
        return "vllm" if vllm_available() else "hf"
    return "ct2" if ct2_available() else "hf"


def make_engine(cfg, adapter=None) -> Engine:
    """Build the backend named by cfg.engine ('hf', 'ct2', 'vllm'; 'auto' = the fastest installed) for cfg.model (+ LoRA adapter)."""
    if resolve_engine(cfg.engine) == "vllm":
        from .vllm import VLLMEngine

        return VLLMEngine(cfg.model, cfg.dtype, adapter, tensor_parallel_size=cfg.tensor_parallel_size,
                          max_lora_rank=cfg.lora_r)
    if resolve_engine(cfg.engine) == "ct2":
        from .ct2 import CT2Engine

        return CT2Engine(cfg.model, adapter, batch_size=cfg.batch_size, threads=cfg.threads or None)
    from ..models import load_model
    from .hf import HFEngine

    model, tok, fingerprint = load_model(cfg.model, adapter=adapter, dtype=cfg.dtype)
    return HFEngine(model, tok, fingerprint, batch_size=cfg.batch_size, threads=cfg.threads or None)


def fingerprint(cfg, adapter=None) -> str:
    """The cache-key identity of the model `make_engine(cfg, adapter)` builds, known without building it: completions
    already stored (or archived) are served without loading, converting or training anything. Each backend computes
    the same string itself; `CachedEngine` checks that they agree."""
    from ..models import adapter_id, compute_dtype, model_fingerprint

    backend = resolve_engine(cfg.engine)
    if backend == "ct2":
        from .ct2 import QUANTIZATION

        kind = f"{QUANTIZATION}+ct2"
    else:
        dt = str(compute_dtype(cfg.dtype)).removeprefix("torch.")  # outputs differ by dtype, so cache keys must too
        kind = f"{dt}+vllm" if backend == "vllm" else dt
    lora = f"+lora@{adapter_id(adapter)}" if adapter is not None else ""
    return f"{model_fingerprint(cfg.model)}:{kind}{lora}"


def release() -> None:
    """Free the models a backend keeps beyond its engine objects (vLLM's), before LoRA training needs the memory."""
    from .vllm import release as release_vllm

    release_vllm()


class EngineSlot:
    """One inference model in memory at a time, behind the completion cache: the base model or base + one LoRA
    adapter, built only when a generation is not in the cache. Asking for another adapter frees the current model
    first; `fingerprint` is the base model's."""

    def __init__(self, cfg, cache):
        self.cfg, self.cache = cfg, cache
        self._held = None  # (adapter key, CachedEngine)

    @functools.cached_property
    def fingerprint(self) -> str:
        return fingerprint(self.cfg)

    def __call__(self, adapter=None):
        from ..cache import CachedEngine  # not at the top: cache imports engines.base, so this package too

        key = str(adapter) if adapter else None
        if self._held is None or self._held[0] != key:
            self.release()

            def build():  # an adapter trained on another machine (`distill.PendingAdapter`) is trained here first
                return make_engine(self.cfg, adapter.materialize() if hasattr(adapter, "materialize") else adapter)

            self._held = (key, CachedEngine(build, self.cache, chunk=max(self.cfg.batch_size, 1),
                                            fingerprint=fingerprint(self.cfg, adapter)))
        return self._held[1]

    def release(self) -> None:
        """Drop the inference model, the one a backend keeps beyond its engine objects included (vLLM's)."""
        import gc

        self._held = None
        release()
        gc.collect()
