"""One generation interface for every backend: chat prompts + sampling settings -> completions with token counts."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Protocol

Messages = list[dict[str, str]]  # chat messages: [{"role": "user", "content": ...}, ...]


@dataclass(frozen=True)
class Sampling:
    """Sampling settings. temperature == 0 means greedy (then n must be 1)."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 128
    seed: int = 0
    stop: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        checks = [
            (self.n >= 1, "n", "an integer >= 1"),
            (0.0 <= self.temperature <= 2.0, "temperature", "0 (greedy) to 2"),
            (0.0 < self.top_p <= 1.0, "top_p", "in (0, 1]"),
            (self.top_k >= 0, "top_k", ">= 0 (0 = off)"),
            (self.max_new_tokens >= 1, "max_new_tokens", ">= 1"),
            (self.temperature > 0 or self.n == 1, "n", "1 when temperature is 0 (greedy gives one answer)"),
        ]
        for ok, name, allowed in checks:
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r}: allowed values are {allowed}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def key_fields(self) -> dict:
        """Settings that decide a sample's text (n too: backends draw all n samples of a prompt from one seed)."""
        d = asdict(self)
        d["stop"] = list(self.stop)
        if self.greedy:  # greedy ignores the sampling knobs and the seed
            d.update(top_p=1.0, top_k=0, seed=0, n=1)
        return d


@dataclass(frozen=True)
class Completion:
    text: str
    n_tokens: int
    seconds: float = 0.0  # wall time of the batch that made it, divided by the batch's rows


class Engine(Protocol):
    """A backend. `generate` returns, for each prompt, `sampling.n` completions in sample-index order.

    Sample i of a prompt must depend only on (model, prompt, sampling settings, seed, i), never on which other
    prompts share its batch, so that cached and fresh completions are interchangeable.
    """

    fingerprint: str

    def generate(self, prompts: list[Messages], sampling: Sampling, desc: str = "generate") -> list[list[Completion]]: ...


def render(tokenizer, messages: Messages) -> str:
    """The prompt text every backend feeds the model: the tokenizer's chat template with the generation prompt."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def prompt_seed(seed: int, prompt: str) -> int:
    """A 32-bit seed from the run's seed and a prompt's text, so a prompt's samples never depend on its neighbours."""
    return int.from_bytes(hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()[:4], "little")
