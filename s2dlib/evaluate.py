"""Metrics: accuracy with a bootstrap 95% CI, maj@k, tokens per input."""
from __future__ import annotations

from collections import Counter

import numpy as np

from .tasks.base import source_of


def metric_suffix(metric: str) -> str:
    """'accuracy_biased' -> '_biased', 'accuracy' -> '': a metric's CI and count are ci_low<sfx>, ci_high<sfx>, n<sfx>."""
    return "_" + metric.split("_", 1)[1] if "_" in metric else ""


def bootstrap_ci(correct: list[bool], n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                 clusters: list | None = None) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of 0/1 outcomes, in percent.

    With `clusters` (one id per outcome) whole clusters are resampled, so correlated inputs (the variants of one
    question) do not make the interval look narrower than the number of independent questions allows.
    """
    x = np.asarray(correct, dtype=float)
    if x.size == 0:
        return (float("nan"), float("nan"))
    first: dict = {}  # ids in order of first appearance: without real clusters this is the plain bootstrap
    ids = np.arange(x.size) if clusters is None else np.array([first.setdefault(c, len(first)) for c in clusters])
    sums, counts = np.bincount(ids, weights=x), np.bincount(ids)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, sums.size, size=(n_boot, sums.size))
    means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return (100 * float(lo), 100 * float(hi))


def accuracy_row(correct: list[bool], tokens: list[int], no_answer: int, seed: int = 0,
                 subsets: dict[str, list[int]] | None = None, clusters: list | None = None) -> dict:
    """One table row: accuracy (%) with CI, mean generated tokens per input, inputs without an answer.

    `subsets` maps metric names to the inputs they are computed on (default: {"accuracy": all inputs}); each gets
    its own CI and count (see `metric_suffix`). `clusters` are passed on to the bootstrap.
    """
    row = {"tokens": float(np.mean(tokens)) if tokens else float("nan"), "n": len(correct), "no_answer": no_answer}
    for metric, idx in (subsets or {"accuracy": list(range(len(correct)))}).items():
        row.update(rate(metric, [correct[i] for i in idx], seed, None if clusters is None else [clusters[i] for i in idx]))
    return row


def rate(metric: str, outcomes: list[bool], seed: int = 0, clusters: list | None = None) -> dict:
    """A metric's share of true outcomes (%) with its bootstrap CI and count, named as `metric_suffix` says."""
    sfx = metric_suffix(metric)
    lo, hi = bootstrap_ci(outcomes, seed=seed, clusters=clusters)
    return {metric: 100 * float(np.mean(outcomes)) if outcomes else float("nan"),
            f"ci_low{sfx}": lo, f"ci_high{sfx}": hi, f"n{sfx}": len(outcomes)}


def step_diagnostics(task, examples, out, k: int | None = None) -> dict:
    """Whether replies ran out of budget and whether step 1 did its job, over the first k samples (None: all).

    Cut-off replies are counted in two named units: `capped_inputs` (inputs with a sample stopped at a token cap at
    any step: its answer may be cut off) and `capped_samples` (samples so stopped); a method with several steps adds
    both per step (`capped_inputs_<step>`, `capped_samples_<step>`). `step1_bias_kept`: the share (%, with a CI that
    resamples questions) of the inputs where a task can tell (`Task.bias_kept`, e.g. an opinion-biased question)
    whose step-1 text, as step 2 read it, still carries the bias (first sample). Empty for outputs without that record."""
    diag = {}
    for step, flags in (("", out.capped), *((f"_{s}", f) for s, f in out.step_capped.items())):
        if flags:
            rows = [row[:k] for row in flags] if k else flags
            diag.update({f"capped_inputs{step}": sum(any(row) for row in rows),
                         f"capped_samples{step}": sum(map(sum, rows))})
    seen = [(task.bias_kept(e, row[0]), source_of(e)) for e, row in zip(examples, out.first or []) if row]
    seen = [(flag, source) for flag, source in seen if flag is not None]
    if seen:
        diag.update(rate("step1_bias_kept", [f for f, _ in seen], clusters=[c for _, c in seen]))
    return diag


def paired_difference(a: list[bool], b: list[bool], clusters: list | None = None, seed: int = 0) -> dict:
    """System a minus system b on the same items: the accuracy difference (points) with a paired bootstrap 95% CI that
    resamples the same clusters as the marginal CIs (questions, pairs), and McNemar's exact p-value (a two-sided
    binomial test on the discordant items, scipy). The test treats items as independent; the CI does not."""
    from scipy.stats import binomtest

    if len(a) != len(b):
        raise ValueError(f"paired_difference: a and b must score the same items (got {len(a)} and {len(b)})")
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    lo, hi = bootstrap_ci(x - y, seed=seed, clusters=clusters)
    a_only, b_only = int(((x == 1) & (y == 0)).sum()), int(((x == 0) & (y == 1)).sum())
    p = binomtest(a_only, a_only + b_only, 0.5).pvalue if a_only + b_only else 1.0
    return {"diff": 100 * float((x - y).mean()) if x.size else float("nan"), "ci_low": lo, "ci_high": hi,
            "p": float(p), "a_only": a_only, "b_only": b_only, "n": int(x.size)}


def maj_row(label: str, k: int) -> str:
    """The row name of `label`'s maj@k: the plain label at k=1 (the one the paper's tables use), else '<label> maj@k'."""
    return label if k == 1 else f"{label} maj@{k}"


def maj_at_k(answers: list[list[str | None]], k: int, normalize=lambda a: a) -> list[str | None]:
    """Per input, the most frequent answer among its first k samples (maj@k): a tie goes to the answer sampled
    first, None when none of the k samples has an answer. maj@1 is the first sample's answer."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k={k!r}: allowed values are integers >= 1")
    if any(len(row) < k for row in answers):
        raise ValueError(f"k={k}: allowed values are at most the samples per input ({min(map(len, answers))})")
    votes = [Counter(normalize(a) for a in row[:k] if a is not None).most_common(1) for row in answers]
    return [v[0][0] if v else None for v in votes]  # most_common keeps first-seen order among equal counts
