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
from typing import NamedTuple

import numpy as np


def agreement(greedy: list[str | None], samples: list[list[str | None]], normalize: Callable[[str], str]) -> list[float]:
    """Share of votes for the greedy answer among itself and its samples (no answer agrees only with no answer)."""
    norm = lambda a: None if a is None else normalize(a)  # noqa: E731
    return [(1 + sum(norm(s) == norm(g) for s in row)) / (1 + len(row)) for g, row in zip(greedy, samples)]


class Side(NamedTuple):
    """One system's answer per input and what it cost (tokens, seconds); for the confidence samples, their totals."""

    answers: list[str | None]
    tokens: list[int]
    seconds: list[float] | None = None

    @classmethod
    def first(cls, out) -> Side:
        """The first answer of each input of a method's output (greedy: the only one)."""
        return cls(*([row[0] for row in getattr(out, f)] for f in ("answers", "tokens", "seconds")))

    @classmethod
    def total(cls, out) -> Side:
        """Confidence samples: no answer of their own, the cost of all of them per input."""
        return cls([None] * len(out.tokens), [sum(r) for r in out.tokens], [sum(r) for r in out.seconds])


@dataclass
class Routed:
    threshold: float
    answers: list[str | None]
    tokens: list[int]
    sent: list[bool]  # inputs System 2 answered
    seconds: list[float] | None = None

    @property
    def sent_share(self) -> float:
        return float(np.mean(self.sent)) if self.sent else 0.0


def route(threshold: float, confidence: list[float], s1: Side, samples: Side, s2: Side) -> Routed:
    """Answers and per-input cost of the router at one threshold; `samples` carries the k confidence samples' cost."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold={threshold}: allowed values are 0 (always System 1) to 1 (always System 2)")
    if threshold in (0.0, 1.0):  # no confidence needed: exactly one system's answers and cost
        side = s1 if threshold == 0.0 else s2
        return Routed(threshold, list(side.answers), list(side.tokens), [threshold == 1.0] * len(side.answers),
                      None if side.seconds is None else list(side.seconds))
    sent = [c <= threshold for c in confidence]

    def spent(x1, xk, x2):
        return None if None in (x1, xk, x2) else [a + k + (b if s else 0) for a, k, b, s in zip(x1, xk, x2, sent)]

    return Routed(threshold, [b if s else a for a, b, s in zip(s1.answers, s2.answers, sent)],
                  spent(s1.tokens, samples.tokens, s2.tokens), sent, spent(s1.seconds, samples.seconds, s2.seconds))


def sweep(k: int, confidence: list[float], s1: Side, samples: Side, s2: Side) -> list[Routed]:
    """The router at every distinct threshold for k confidence samples, from always System 1 to always System 2."""
    return [route(t, confidence, s1, samples, s2) for t in thresholds(k)]


def choose(dev_rows: list[dict]) -> dict:
    """The cheapest dev-split sweep row (dicts with threshold, accuracy, tokens; the last is t = 1, System 2) whose
    accuracy reaches the lower 95% CI bound of System 2's; ties in tokens go to the lower threshold."""
    bar = dev_rows[-1]["ci_low"]
    return min((r for r in dev_rows if r["accuracy"] >= bar), key=lambda r: (r["tokens"], r["threshold"]))


def thresholds(k: int) -> list[float]:
    """Every distinct decision: 0, the confidence levels below 1, and 1."""
    return [0.0, *[j / (k + 1) for j in range(1, k + 1)], 1.0]


def pareto(points: list[tuple[float, float]]) -> list[bool]:
    """Whether each (tokens, accuracy) point is on the front: no other point has fewer or equal tokens and higher or
    equal accuracy with one of them strict."""
    return [not any((t2 <= t and a2 >= a) and (t2 < t or a2 > a) for t2, a2 in points) for t, a in points]


def evaluate_router(exp, adapter, system2: str, label: str = "Router") -> dict:
    """Beyond the paper: the distilled System 1 (`adapter`) answers, `system2` (a method) answers where the
    router's label-free confidence is low. Every threshold is scored on the test set (the curve); one threshold is
    chosen on the dev split (`choose`), and its test row joins the `Experiment`'s results table. Generations are
    shared with (and cached like) the other rows."""
    c, k = exp.cfg, exp.cfg.router_k
    if not k:
        return {}

    def scored_sweep(examples) -> list[dict]:
        s1 = exp.generate("system1", examples, c.greedy(), adapter=adapter)
        samples = exp.generate("system1", examples, c.sampling(n=k), adapter=adapter)
        s2 = exp.generate(system2, examples, c.greedy())
        conf = agreement([a[0] for a in s1.answers], samples.answers, exp.task.normalize)
        return [{"system": f"{label} t={r.threshold:.2f}", "threshold": r.threshold, "sent_pct": 100 * r.sent_share,
                 **exp.score_answers(r.answers, r.tokens, r.seconds, examples=examples)}
                for r in sweep(k, conf, Side.first(s1), Side.total(samples), Side.first(s2))]

    test_rows = scored_sweep(exp.test)
    for row, front in zip(test_rows, pareto([(r["tokens"], r["accuracy"]) for r in test_rows])):
        row["pareto"] = front
    dev_rows = scored_sweep(exp.dev) if exp.dev else []
    chosen = choose(dev_rows) if dev_rows else None
    if chosen is not None:
        row = next(r for r in test_rows if r["threshold"] == chosen["threshold"])
        exp.record_row({**{k_: v for k_, v in row.items() if k_ != "pareto"},
                        "system": f"{label} (t={chosen['threshold']:.2f} chosen on dev)"})
    exp.router = {"k": k, "system2": system2, "n_dev": len(exp.dev),
                  "chosen_threshold": None if chosen is None else chosen["threshold"],
                  "chosen_by": (f"cheapest threshold whose accuracy on {len(exp.dev)} dev inputs reaches the lower "
                                "95% CI bound of System 2's there (labels used only there)") if chosen else
                               "not chosen: no dev split (n_dev = 0); the test sweep is descriptive only",
                  "test": test_rows, "dev": dev_rows}
    return exp.router
