"""Label-free filters that turn System 2 samples into distillation targets. Registered by name."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from .engines.base import Sampling
from .evaluate import step_diagnostics
from .registry import Registry

FILTERS = Registry("filter")
register = FILTERS.register
MIN_AGREEMENT = 0.6  # self-consistency's default majority share; ExperimentConfig.min_agreement takes it as its default


def get_filter(name: str, **kwargs):
    return FILTERS.build(name, **kwargs)


def build_filter(name: str, cfg, task, engine=None) -> "Filter":
    """The filter `name` with the config's settings (each class's `from_config`); `engine`: a zero-argument callable
    giving the generation engine, called only by a filter that asks the model (USC)."""
    FILTERS.check(name)
    return FILTERS[name].from_config(cfg, task, engine)


@dataclass
class FilterResult:
    """Per input: the kept target (None = dropped) and the share of samples that voted for it; for a filter that
    asks the model (USC), the tokens it generated per input and its counts (e.g. fallbacks); for a filter that picks
    a whole sample (the shortest consistent CoT), its text (`texts`: trained on verbatim instead of the answer)."""

    targets: list[str | None]
    agreement: list[float]
    tokens: list[int] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    texts: list[str | None] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return sum(t is not None for t in self.targets)

    @property
    def kept_fraction(self) -> float:
        return self.kept / len(self.targets) if self.targets else 0.0


def filter_stats(task, examples, out, res: FilterResult) -> dict:
    """A filter's statistics over the training inputs `examples`: kept share, the samples' no-answer share and cost
    (`system2_tokens_per_input`: all samples the filter saw plus its own tokens, e.g. USC's), and, with labels as a
    diagnostic only (over labelled inputs: a judge's training pairs may have none), the accuracy of the samples and of
    the kept targets. `out`: the MethodOutput filtered, or None for targets that no generation made (gold labels)."""
    if out is None:
        out = SimpleNamespace(answers=[[] for _ in res.targets], tokens=[[0] for _ in res.targets], capped=[], first=[],
                              step_capped={})
    extra = res.tokens or [0] * len(res.targets)
    kept = [(t, e) for t, e in zip(res.targets, examples) if t is not None and e.answer]
    scored = [task.score(a, e) for row, e in zip(out.answers, examples) if e.answer for a in row]
    samples = [a for row in out.answers for a in row]
    mean = lambda xs: 100 * float(np.mean(xs)) if xs else float("nan")  # noqa: E731
    return {
        "inputs": len(res.targets), "kept": res.kept, "kept_pct": 100 * res.kept_fraction,
        "kept_target_acc": mean([task.score(t, e) for t, e in kept]), "sample_acc": mean(scored),
        "no_answer_pct": 100 * sum(a is None for a in samples) / max(len(samples), 1),
        "tokens_per_sample": float(np.mean([t for row in out.tokens for t in row] or [0])),
        "filter_tokens_per_input": float(np.mean(extra)),
        "system2_tokens_per_input": float(np.mean([sum(row) + x for row, x in zip(out.tokens, extra)])),
        **step_diagnostics(task, examples, out),
        **res.stats,
    }


class Filter:
    """One call shape for the pipeline: built by `from_config`, applied to a method's output over its inputs."""

    name = ""
    needs: tuple[str, ...] = ()  # task capabilities the filter relies on (checked when the config is built)

    @classmethod
    def from_config(cls, cfg, task, engine=None) -> "Filter":
        return cls(normalize=task.normalize)

    def apply(self, out, examples) -> "FilterResult":
        """`out`: a MethodOutput over `examples` (the training inputs)."""
        return self(out.answers)


@register
class SelfConsistency(Filter):
    """Majority vote over the N sampled final answers of each input.

    Keep the most frequent answer when its share of all N samples (no-answer samples count against it) is at
    least `min_agreement` and it leads the runner-up by at least `margin` votes; otherwise drop the input.
    """

    name = "self_consistency"

    def __init__(self, min_agreement: float = MIN_AGREEMENT, margin: int = 1, normalize=lambda a: a):
        if not 0.0 <= min_agreement <= 1.0:
            raise ValueError(f"min_agreement={min_agreement}: allowed values are 0 to 1")
        if margin < 0:
            raise ValueError(f"margin={margin}: allowed values are integers >= 0")
        self.min_agreement, self.margin, self.normalize = min_agreement, margin, normalize

    @classmethod
    def from_config(cls, cfg, task, engine=None):
        return cls(min_agreement=cfg.min_agreement, margin=cfg.margin, normalize=task.normalize)

    def __call__(self, answers: list[list[str | None]]) -> FilterResult:
        targets, agreement = [], []
        for samples in answers:
            votes = Counter(self.normalize(a) for a in samples if a is not None).most_common(2)
            if not votes:
                targets.append(None)
                agreement.append(0.0)
                continue
            top, count = votes[0]
            second = votes[1][1] if len(votes) > 1 else 0
            share = count / len(samples)
            ok = share >= self.min_agreement and count - second >= self.margin
            targets.append(top if ok else None)
            agreement.append(share)
        return FilterResult(targets, agreement)


@register
class ShortestConsistent(SelfConsistency):
    """System 1.5 targets (beyond the paper; Munkhbat et al. 2025, arXiv 2502.20122): self-consistency's vote, then
    the shortest (generated tokens) of the input's samples that gave the majority answer, its whole text as the
    target. Inputs the vote drops stay dropped; samples cut off at the token cap are no candidates (their text ends
    without an answer line: an input left with none is dropped, `capped_dropped`). Equal lengths: the first sampled.
    `stats`: the kept targets' mean tokens (`target_tokens`) and all candidates' (`consistent_tokens`)."""

    name = "self_consistency_shortest"
    longest = False  # the control (`self_consistency_longest`): the longest candidate instead

    def apply(self, out, examples):
        return self.select(out.answers, out.texts, out.tokens, out.capped or None)

    def select(self, answers, texts, tokens, capped=None) -> FilterResult:
        res = self(answers)
        capped = capped or [[False] * len(row) for row in answers]
        picked, lengths, dropped = [], [], 0
        for target, row, cut, n in zip(res.targets, answers, capped, tokens):
            cands = [j for j, a in enumerate(row) if target is not None and a is not None and not cut[j]
                     and self.normalize(a) == target]
            dropped += target is not None and not cands
            picked.append((max if self.longest else min)(cands, key=lambda j: n[j]) if cands else None)
            lengths += [n[j] for j in cands]
        targets = [t if j is not None else None for t, j in zip(res.targets, picked)]
        chosen = [n[j] for n, j in zip(tokens, picked) if j is not None]
        stats = {"capped_dropped": dropped, "target_tokens": float(np.mean(chosen)) if chosen else float("nan"),
                 "consistent_tokens": float(np.mean(lengths)) if lengths else float("nan")}
        return FilterResult(targets, res.agreement, stats=stats,
                            texts=[x[j].strip() if j is not None else None for x, j in zip(texts, picked)])


@register
class LongestConsistent(ShortestConsistent):
    """The control of System 1.5: the longest majority-consistent sample (`ShortestConsistent`)."""

    name = "self_consistency_longest"
    longest = True


@register
class NoFilter(Filter):
    """Ablation: take the first sample's answer as the target (inputs without an answer are still dropped)."""

    name = "none"

    def __init__(self, normalize=lambda a: a):
        self.normalize = normalize

    def __call__(self, answers: list[list[str | None]]) -> FilterResult:
        targets = [self.normalize(s[0]) if s and s[0] is not None else None for s in answers]
        return FilterResult(targets, [1.0 if t is not None else 0.0 for t in targets])


USC_PROMPT = (
    "I have generated the following responses to the question: {question}\n\n{responses}\n\n"
    "Evaluate these responses. Select the most consistent response based on majority consensus. "
    'Start your answer with "The most consistent response is Response X" (without quotes).'
)
_CHOICE = re.compile(r"most\s+consistent\s+response\s+is\W*response\W*(\d+)", re.IGNORECASE)
_MENTION = re.compile(r"\bresponse\W{0,3}(\d+)", re.IGNORECASE)


def parse_choice(text: str, k: int) -> int | None:
    """The response index a USC reply names: from 'The most consistent response is Response X' (markdown and
    punctuation allowed), else from the first 'Response X' it mentions; None when absent or not in 0..k-1."""
    m = _CHOICE.search(text) or _MENTION.search(text)
    return int(m.group(1)) if m and int(m.group(1)) < k else None


@register
class UniversalSelfConsistency(Filter):
    """Universal self-consistency (Chen et al. 2023): the model picks the most consistent of the N responses.

    One greedy call per input lists the N final responses (`USC_PROMPT`); the target is the chosen response's answer.
    Fallbacks are predictable and counted in `stats`: a choice that cannot be parsed or is out of range
    (`usc_malformed`), or a chosen response without an answer (`usc_chose_no_answer`), takes the majority answer,
    ties going to the lowest-numbered response (so with no majority at all, response 0's answer). An input whose
    answered samples all agree needs no call (every choice gives that answer: `usc_unanimous`); one without any
    answer is dropped. Its generated tokens are System 2 cost and are returned per input.
    """

    name = "usc"

    def __init__(self, engine, max_new_tokens: int = 24, normalize=lambda a: a):
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={max_new_tokens!r}: allowed values are integers >= 1")
        self.engine, self.max_new_tokens, self.normalize = engine, max_new_tokens, normalize

    @classmethod
    def from_config(cls, cfg, task, engine=None):
        return cls(engine(), normalize=task.normalize)  # the model chooses, shown the input as the user wrote it

    def apply(self, out, examples):
        return self(out.answers, out.texts, [e.question for e in examples])

    @staticmethod
    def prompt(question: str, responses: list[str]) -> str:
        return USC_PROMPT.format(question=question, responses="\n".join(f"Response {i}: {r.strip()}" for i, r in enumerate(responses)))

    def __call__(self, answers: list[list[str | None]], texts: list[list[str]], questions: list[str]) -> FilterResult:
        norm = [[None if a is None else self.normalize(a) for a in row] for row in answers]
        ask = [i for i, row in enumerate(norm) if len({a for a in row if a is not None}) > 1]
        replies = self.engine.generate([[{"role": "user", "content": self.prompt(questions[i], texts[i])}] for i in ask],
                                       Sampling(n=1, temperature=0.0, max_new_tokens=self.max_new_tokens), desc="usc") if ask else []
        chosen = {i: r[0] for i, r in zip(ask, replies)}
        stats = dict.fromkeys(("usc_calls", "usc_unanimous", "usc_malformed", "usc_chose_no_answer", "usc_dropped"), 0)
        stats["usc_calls"] = len(ask)
        targets, agreement = [], []
        for i, row in enumerate(norm):
            votes = Counter(a for a in row if a is not None).most_common()  # ties: first seen = lowest response number
            target = votes[0][0] if votes else None
            if i in chosen:
                pick = parse_choice(chosen[i].text, len(row))
                if pick is None:
                    stats["usc_malformed"] += 1
                elif row[pick] is None:
                    stats["usc_chose_no_answer"] += 1
                else:
                    target = row[pick]
            else:
                stats["usc_unanimous" if target is not None else "usc_dropped"] += 1
            targets.append(target)
            agreement.append(sum(a == target for a in row) / len(row) if target is not None else 0.0)
        return FilterResult(targets, agreement, [chosen[i].n_tokens if i in chosen else 0 for i in range(len(norm))], stats)


@register
class SwapConsistency(Filter):
    """Input-perturbation consistency (the paper's filter for BSM judges): each input is judged in both orders of
    its pair, (A, B) and (B, A); keep both inputs, each with its own verdict as target, only when the verdicts agree
    after un-swapping the second (`unswap`), else drop both. The first sample of each input is its verdict; an input
    without a verdict or without a partner is dropped. `stats` counts pairs."""

    name = "swap_consistency"
    needs = ("swap_partners", "unswap")  # task capabilities: which inputs are swaps of each other, and how to undo one

    def __init__(self, unswap, normalize=lambda a: a, swap_partners=None):
        self.unswap, self.normalize, self.swap_partners = unswap, normalize, swap_partners

    @classmethod
    def from_config(cls, cfg, task, engine=None):
        return cls(task.unswap, task.normalize, task.swap_partners)

    def apply(self, out, examples):
        return self(out.answers, self.swap_partners(examples))

    def __call__(self, answers: list[list[str | None]], partners: list[int | None]) -> FilterResult:
        verdict = [self.normalize(row[0]) if row and row[0] is not None else None for row in answers]
        targets = [v if v is not None and p is not None and verdict[p] is not None and self.unswap(verdict[p]) == v
                   else None for v, p in zip(verdict, partners)]
        pairs = {frozenset((i, p)) for i, p in enumerate(partners) if p is not None}
        stats = {"swap_pairs": len(pairs), "swap_consistent_pairs": sum(targets[min(q)] is not None for q in pairs),
                 "swap_no_verdict": sum(v is None for v in verdict)}
        return FilterResult(targets, [1.0 if t is not None else 0.0 for t in targets], stats=stats)
