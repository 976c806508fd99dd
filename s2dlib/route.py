"""Beyond the paper: a confidence router. The distilled System 1 answers; where it is unsure, System 2 answers instead.

Confidence is label-free: the share of votes for System 1's greedy answer among that answer and k sampled answers of
the same model, so it lies in [1/(k+1), 1]. At threshold t the greedy answer is kept when its confidence exceeds t,
else the input goes to System 2. t = 0 keeps every System 1 answer and t = 1 sends every input to System 2; these two
need no confidence, so they cost exactly System 1's and System 2's tokens. Between them, tokens per input count
everything generated: the greedy answer, the k samples, and System 2's tokens where it was called.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def agreement(greedy: list[str | None], samples: list[list[str | None]], normalize: Callable[[str], str]) -> list[float]:
    """Share of votes for the greedy answer among itself and its samples (no answer agrees only with no answer)."""
    norm = lambda a: None if a is None else normalize(a)  # noqa: E731
    return [(1 + sum(norm(s) == norm(g) for s in row)) / (1 + len(row)) for g, row in zip(greedy, samples)]


@dataclass
class Routed:
    threshold: float
    answers: list[str | None]
    tokens: list[int]
    sent: list[bool]  # inputs System 2 answered

    @property
    def sent_share(self) -> float:
        return float(np.mean(self.sent)) if self.sent else 0.0


def route(threshold: float, confidence: list[float], s1: tuple[list, list[int]], samples_tokens: list[int],
          s2: tuple[list, list[int]]) -> Routed:
    """Answers and per-input tokens of the router at one threshold. s1 / s2: (answers, tokens) per input;
    samples_tokens: tokens of the k confidence samples per input."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold={threshold}: allowed values are 0 (always System 1) to 1 (always System 2)")
    (a1, t1), (a2, t2) = s1, s2
    if threshold == 0.0:
        return Routed(threshold, list(a1), list(t1), [False] * len(a1))
    if threshold == 1.0:
        return Routed(threshold, list(a2), list(t2), [True] * len(a2))
    sent = [c <= threshold for c in confidence]
    answers = [y if s else x for x, y, s in zip(a1, a2, sent)]
    tokens = [x + k + (y if s else 0) for x, k, y, s in zip(t1, samples_tokens, t2, sent)]
    return Routed(threshold, answers, tokens, sent)


def thresholds(k: int) -> list[float]:
    """Every distinct decision: 0, the confidence levels below 1, and 1."""
    return [0.0, *[j / (k + 1) for j in range(1, k + 1)], 1.0]


def pareto(points: list[tuple[float, float]]) -> list[bool]:
    """Whether each (tokens, accuracy) point is on the front: no other point has fewer or equal tokens and higher or
    equal accuracy with one of them strict."""
    return [not any((t2 <= t and a2 >= a) and (t2 < t or a2 > a) for t2, a2 in points) for t, a in points]
