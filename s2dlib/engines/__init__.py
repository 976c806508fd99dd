"""Generation backends behind one interface (`Engine`); `make_engine` picks one from the experiment's parameters."""
from __future__ import annotations

from .base import Completion, Engine, Messages, Sampling

__all__ = ["Completion", "Engine", "Messages", "Sampling", "make_engine", "release", "resolve_engine"]


def resolve_engine(name: str) -> str:
    """'auto' -> 'vllm' when vllm is installed, else 'hf'; other names pass through."""
    from .vllm import available

    return ("vllm" if available() else "hf") if name == "auto" else name


def make_engine(cfg, adapter=None) -> Engine:
    """Build the backend named by cfg.engine ('hf', 'vllm'; 'auto' = the best installed) for cfg.model (+ LoRA adapter)."""
    if resolve_engine(cfg.engine) == "vllm":
        from .vllm import VLLMEngine

        return VLLMEngine(cfg.model, cfg.dtype, adapter, tensor_parallel_size=cfg.tensor_parallel_size,
                          max_lora_rank=cfg.lora_r)
    from ..models import load_model
    from .hf import HFEngine

    model, tok, fingerprint = load_model(cfg.model, adapter=adapter, dtype=cfg.dtype)
    return HFEngine(model, tok, fingerprint, batch_size=cfg.batch_size, threads=cfg.threads or None)


def release() -> None:
    """Free the models a backend keeps beyond its engine objects (vLLM's), before LoRA training needs the memory."""
    from .vllm import release as release_vllm

    release_vllm()
