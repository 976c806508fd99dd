"""CTranslate2 backend: int8 weights on CPU (AVX2 / oneDNN kernels, no bf16 units needed), continuous early exit.

The prompt is rendered and tokenized by the model's own HF tokenizer (the same chat template and token ids as the
transformers backend); CTranslate2 only sees token ids. The template's fixed head (e.g. Qwen's default system prompt)
is passed as CTranslate2's cached `static_prompt`, so it is encoded once per engine, not once per row. A model folder
is converted once to `<S2D_CACHE>/ct2/`; a LoRA adapter is merged into the base weights and converted once, keyed by
the adapter's hash, so distilled systems run on the same engine and in the same precision as System 1.

CTranslate2 draws its random numbers from one global generator: a sampled batch is seeded from its own prompts (as in
the transformers backend), so a batch's output depends on which prompts it holds; the cache keeps that fixed.
Its multi-threaded kernels are not bit-reproducible across runs: identical reruns come from the cache, not the engine.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

from .base import Completion, Messages, Sampling, prompt_seed, render

PIP = "pip install ctranslate2"
QUANTIZATION = "int8"


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ctranslate2") is not None


def _convert(src: Path, dest: Path) -> Path:
    """Convert an HF model folder to CTranslate2 int8, once (a staged build, safe beside a concurrent one)."""
    import ctranslate2

    from ..staging import build_folder

    if (dest / "model.bin").exists():
        return dest
    return build_folder(dest, lambda tmp: ctranslate2.converters.TransformersConverter(
        str(src), low_cpu_mem_usage=True).convert(str(tmp), quantization=QUANTIZATION, force=True))


def converted(name: str, adapter: str | Path | None = None) -> tuple[Path, Path, str]:
    """(CTranslate2 folder, HF folder for the tokenizer, fingerprint) of a model, + adapter; converting on first use.

    Merging loads the base model in fp32: that runs in a child process, so its memory (6 GB for the 1.5B) goes back to
    the system when it ends instead of staying in the notebook's heap beside the training run's."""
    from ..models import adapter_id, cache_dir, resolve_model

    hf, fingerprint = resolve_model(name)
    hf = Path(hf)
    fingerprint = f"{fingerprint}:{QUANTIZATION}+ct2"
    if adapter is not None:
        fingerprint = f"{fingerprint}+lora@{adapter_id(adapter)}"
    dest = cache_dir() / "ct2" / fingerprint.replace("/", "_").replace(":", "_")
    if not (dest / "model.bin").exists():
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "s2dlib.engines.ct2", "--hf", str(hf), "--out", str(dest)]
        subprocess.run([*cmd, *(["--adapter", str(adapter)] if adapter is not None else [])], check=True)
    return dest, hf, fingerprint


def _convert_main(argv: list[str] | None = None) -> None:
    """Child process of `converted`: merge the adapter (if any) into the HF weights and convert to int8."""
    import argparse

    from ..models import save_merged

    ap = argparse.ArgumentParser(prog="python -m s2dlib.engines.ct2")
    ap.add_argument("--hf", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--adapter")
    a = ap.parse_args(argv)
    dest = Path(a.out)
    if a.adapter is None:
        _convert(Path(a.hf), dest)
        return
    staging = dest.with_name(f"{dest.name}.merged-{os.getpid()}")
    try:
        _convert(save_merged(a.hf, a.adapter, staging), dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _common_prefix(a: list[int], b: list[int]) -> list[int]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


class CT2Engine:
    def __init__(self, name: str, adapter: str | Path | None = None, batch_size: int = 32, threads: int | None = None):
        import ctranslate2
        from transformers import AutoTokenizer

        folder, hf, self.fingerprint = converted(name, adapter)
        self.tok = AutoTokenizer.from_pretrained(hf)
        self.batch_size = batch_size
        from ..provenance import usable_cores

        self.generator = ctranslate2.Generator(str(folder), device="cpu", compute_type=QUANTIZATION,
                                               intra_threads=threads or usable_cores())
        from transformers import GenerationConfig

        try:
            cfg_eos = GenerationConfig.from_pretrained(hf).eos_token_id
        except OSError:
            cfg_eos = None
        self.eos = sorted({t for t in (self.tok.eos_token_id, self.tok.pad_token_id,
                                       *([cfg_eos] if isinstance(cfg_eos, int) else cfg_eos or [])) if t is not None})
        # The chat template's fixed head: what two different one-turn prompts share (Qwen: its default system turn).
        probe = [self.tok(render(self.tok, [{"role": "user", "content": c}]), add_special_tokens=False)["input_ids"]
                 for c in ("a", "z")]
        self.head = _common_prefix(*probe)

    def render(self, messages: Messages) -> str:
        return render(self.tok, messages)

    def prompt_tokens(self, messages: Messages) -> int:
        return len(self.tok(self.render(messages), add_special_tokens=False)["input_ids"])

    def generate(self, prompts: list[Messages], sampling: Sampling, desc: str = "generate") -> list[list[Completion]]:
        """A chunk of `batch_size` // n prompts runs as one call; each prompt's n samples are CTranslate2 hypotheses,
        which share the prompt's prefill (its KV cache is copied n times), and finished rows drop out early."""
        ids = [self.tok(self.render(m), add_special_tokens=False)["input_ids"] for m in prompts]
        step = max(1, self.batch_size // sampling.n)
        out: list[list[Completion]] = []
        for i in range(0, len(ids), step):
            out.extend(self._generate_batch(ids[i : i + step], sampling))
        return out

    def _generate_batch(self, ids: list[list[int]], s: Sampling) -> list[list[Completion]]:
        import ctranslate2

        head = self.head if all(row[: len(self.head)] == self.head for row in ids) else []
        # Greedy samples are identical, so only sampled prompts become hypotheses; greedy ones repeat as rows.
        hyps, reps = (1, s.n) if s.greedy else (s.n, 1)
        rows = [self.tok.convert_ids_to_tokens(row[len(head) :]) for row in ids for _ in range(reps)]
        kwargs = dict(max_length=s.max_new_tokens, include_prompt_in_result=False, end_token=self.eos,
                      return_end_token=True, num_hypotheses=hyps)
        if head:
            kwargs["static_prompt"] = self.tok.convert_ids_to_tokens(head)
        if s.greedy:
            kwargs.update(sampling_topk=1)
        else:
            ctranslate2.set_random_seed(seed := prompt_seed(s.seed, "\x00".join(map(str, ids))))
            kwargs.update(sampling_topk=s.top_k or 0, sampling_topp=s.top_p, sampling_temperature=s.temperature)
        stopped: dict[tuple[int, int], int] = {}  # (row, hypothesis) -> tokens generated when a stop string appeared
        if s.stop:
            texts: dict[tuple[int, int], list[int]] = {}

            def callback(step) -> bool:
                key = (step.batch_id, step.hypothesis_id)
                seq = texts.setdefault(key, [])
                seq.append(step.token_id)
                if any(stop in self.tok.decode(seq[-32:], skip_special_tokens=True) for stop in s.stop):
                    stopped[key] = len(seq)
                    return True
                return False

            kwargs["callback"] = callback
        t0 = time.perf_counter()
        results = self.generator.generate_batch(rows, **kwargs)
        per_row = (time.perf_counter() - t0) / (len(rows) * hyps)
        # CTranslate2 returns a prompt's hypotheses sorted by score; a seeded shuffle keeps sample i unbiased (maj@1
        # reads the first sample, which must not be the likeliest of n).
        rng = np.random.default_rng(seed if hyps > 1 else 0)
        completions = []
        for j, r in enumerate(results):
            for h in rng.permutation(hyps):
                gen = r.sequences_ids[h]
                if (j, h) in stopped:
                    gen = gen[: stopped[(j, h)]]
                n = next((k + 1 for k, t in enumerate(gen) if t in self.eos), len(gen))  # the end token counts
                text = self.tok.decode(gen[:n], skip_special_tokens=True)
                for stop in s.stop:
                    text = text.split(stop)[0]
                completions.append(Completion(text.strip(), n, round(per_row, 4)))
        return [completions[k : k + s.n] for k in range(0, len(completions), s.n)]


if __name__ == "__main__":
    _convert_main()
