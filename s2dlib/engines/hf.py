"""transformers backend: batched, left-padded, in the model's dtype; n samples per prompt via num_return_sequences."""
from __future__ import annotations

import os
import time

import torch

from .base import Completion, Messages, Sampling, prompt_seed, render


class HFEngine:
    def __init__(self, model, tokenizer, fingerprint: str, batch_size: int = 16, threads: int | None = None):
        # A GPU machine without vLLM falls back to this engine (engines.resolve_engine): decode there, not on its CPU.
        self.model = model.to("cuda") if torch.cuda.is_available() else model
        self.tok, self.fingerprint, self.batch_size = tokenizer, fingerprint, batch_size
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OMP threads starve other work on shared CPUs
        if threads:
            torch.set_num_threads(threads)

    def render(self, messages: Messages) -> str:
        return render(self.tok, messages)

    def prompt_tokens(self, messages: Messages) -> int:
        return len(self.tok(self.render(messages), add_special_tokens=False)["input_ids"])

    def generate(self, prompts: list[Messages], sampling: Sampling, desc: str = "generate") -> list[list[Completion]]:
        """Batches of `batch_size` rows (prompts x n samples). A sampled batch is seeded from its own prompts, so a
        batch's output depends only on which prompts it holds: callers (the cache) keep that composition fixed."""
        texts = [self.render(m) for m in prompts]
        step = max(1, self.batch_size // sampling.n)
        out: list[list[Completion]] = []
        for i in range(0, len(texts), step):
            chunk = texts[i : i + step]
            if not sampling.greedy:
                torch.manual_seed(prompt_seed(sampling.seed, "\x00".join(chunk)))
            out.extend(self._generate_batch(chunk, sampling))
        return out

    @torch.inference_mode()
    def _generate_batch(self, texts: list[str], s: Sampling) -> list[list[Completion]]:
        enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
        # Every knob is set explicitly so a model's own generation_config (e.g. a repetition penalty) cannot leak in.
        kwargs = dict(max_new_tokens=s.max_new_tokens, pad_token_id=self.tok.pad_token_id, num_return_sequences=s.n,
                      repetition_penalty=1.0, do_sample=not s.greedy)
        if s.greedy:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k)
        if s.stop:
            kwargs.update(stop_strings=list(s.stop), tokenizer=self.tok)
        t0 = time.perf_counter()
        if s.n > 1:
            gen = self._generate_shared_prefix(enc, s.n, kwargs)
        else:
            gen = self.model.generate(**enc, **kwargs)[:, enc["input_ids"].shape[1] :]
        cfg_eos = self.model.generation_config.eos_token_id
        eos = {self.tok.eos_token_id, self.tok.pad_token_id, *([cfg_eos] if isinstance(cfg_eos, int) else cfg_eos or [])}
        per_row = (time.perf_counter() - t0) / gen.shape[0]
        rows = []
        for ids in gen.tolist():
            n = next((j + 1 for j, t in enumerate(ids) if t in eos), len(ids))  # count the EOS token, not padding
            text = self.tok.decode(ids[:n], skip_special_tokens=True)
            for stop in s.stop:
                text = text.split(stop)[0]
            rows.append(Completion(text.strip(), n, round(per_row, 4)))
        return [rows[j : j + s.n] for j in range(0, len(rows), s.n)]

    def _generate_shared_prefix(self, enc, n: int, kwargs: dict):
        """n samples per prompt with the prompt encoded once: prefill, copy the KV cache n times, then decode.

        num_return_sequences would encode every prompt n times; on a CPU the prompt is a large share of the cost.
        """
        from transformers import DynamicCache

        ids, mask = enc["input_ids"], enc["attention_mask"]
        cache = DynamicCache(config=self.model.config)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        self.model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1],
                   past_key_values=cache, use_cache=True)
        cache.batch_repeat_interleave(n)
        kwargs = {**kwargs, "num_return_sequences": 1}
        out = self.model.generate(input_ids=ids.repeat_interleave(n, 0), attention_mask=mask.repeat_interleave(n, 0),
                                  past_key_values=cache, **kwargs)
        return out[:, ids.shape[1] :]

