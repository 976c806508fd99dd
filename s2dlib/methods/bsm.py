"""LLM-as-a-judge on a response pair (task pairwise_judge): the direct System 1 judge and Branch-Solve-Merge (Saha et
al. 2023). BSM: *branch* writes question-specific evaluation criteria, *solve* evaluates both responses on each
criterion (one call per criterion), *merge* combines the evaluations into a verdict. Tokens of every call count."""
from __future__ import annotations

import re
from dataclasses import replace

from ..engines.base import Completion
from ..tasks.pairwise_judge import split_pair
from .base import Method, MethodOutput, register, user
from .system1 import System1

BRANCH = ("{pair}\n\nBefore judging which answer is better, write an evaluation plan: list {n} criteria, specific to "
          "this user question, that decide which answer is better (for example correctness of the final answer, "
          "soundness of the reasoning). One criterion per line, numbered 1 to {n}, a few words each, nothing else.")
SOLVE = ("{pair}\n\nEvaluate both answers on this criterion only: {criterion}\nWrite one short sentence about each "
         "answer, then end with \"Assistant A: <score>, Assistant B: <score>\" (scores 1 to 10).")
MERGE = ("{pair}\n\nEvaluations of the two answers, one criterion at a time:\n{evaluations}\n\nCombine these "
         "evaluations into an overall judgment in one or two sentences. {final_format}")
# Criteria that fill up a plan with too few parseable lines, so that every judgment gets n solve calls.
DEFAULT_CRITERIA = ("correctness of the final answer", "soundness of the reasoning", "clarity and conciseness",
                    "relevance to the question", "completeness")
_ITEM = re.compile(r"^\s*(?:\d+[.):]|[-*•])\s*(.+?)\s*$", re.MULTILINE)


def parse_criteria(text: str, n: int) -> list[str]:
    """The first n numbered or bulleted lines of a plan (markdown stripped), filled up from DEFAULT_CRITERIA."""
    found = [re.sub(r"[*_`#]", "", m).strip(" :") for m in _ITEM.findall(text)]
    found = [c for c in found if c][:n]
    return found + [c for c in DEFAULT_CRITERIA if c not in found][: n - len(found)]


@register
class JudgeDirect(System1):
    """System 1 judge: the task's direct prompt (verdict only). The distilled judges are evaluated with it too."""

    name = "judge_direct"
    max_new_tokens = 8


@register
class BSM(Method):
    """Branch-Solve-Merge judge. With n samples, each sample is its own branch -> solve -> merge chain (solve and
    merge sampled once per chain, with the same settings)."""

    name = "bsm"

    def __init__(self, n_criteria: int = 3, max_new_tokens: int = 96, max_new_tokens_branch: int = 64,
                 max_new_tokens_merge: int = 64):
        for key, value, top in (("n_criteria", n_criteria, len(DEFAULT_CRITERIA)), ("max_new_tokens", max_new_tokens, None),
                                ("max_new_tokens_branch", max_new_tokens_branch, None),
                                ("max_new_tokens_merge", max_new_tokens_merge, None)):
            if not isinstance(value, int) or value < 1 or (top and value > top):
                raise ValueError(f"{key}={value!r}: allowed values are integers >= 1" + (f" and <= {top}" if top else ""))
        self.n_criteria, self.max_new_tokens = n_criteria, max_new_tokens
        self.max_new_tokens_branch, self.max_new_tokens_merge = max_new_tokens_branch, max_new_tokens_merge

    @classmethod
    def from_config(cls, cfg, task, shots=()):
        return cls(n_criteria=cfg.n_criteria, max_new_tokens=cfg.max_new_tokens,
                   max_new_tokens_branch=cfg.max_new_tokens_branch, max_new_tokens_merge=cfg.max_new_tokens_merge)

    def run(self, engine, task, questions, sampling) -> MethodOutput:
        for q in questions:
            split_pair(q)  # a malformed input fails here, before any generation
        n, one = sampling.n, replace(sampling, n=1)
        branch = engine.generate([user(BRANCH.format(pair=q, n=self.n_criteria)) for q in questions],
                                 replace(sampling, max_new_tokens=self.max_new_tokens_branch), desc="bsm branch")
        chains = [(q, c) for q, row in zip(questions, branch) for c in row]  # question-major, sample-minor
        criteria = [parse_criteria(c.text, self.n_criteria) for _, c in chains]
        solve = engine.generate([user(SOLVE.format(pair=q, criterion=k)) for (q, _), ks in zip(chains, criteria) for k in ks],
                                replace(one, max_new_tokens=self.max_new_tokens), desc="bsm solve")
        m = self.n_criteria
        evals = [solve[i * m : (i + 1) * m] for i in range(len(chains))]
        merge = engine.generate(
            [user(MERGE.format(pair=q, final_format=task.final_format,
                               evaluations="\n".join(f"- {k}: {e[0].text.strip()}" for k, e in zip(ks, ev))))
             for (q, _), ks, ev in zip(chains, criteria, evals)],
            replace(one, max_new_tokens=self.max_new_tokens_merge), desc="bsm merge")
        earlier = [Completion("", b.n_tokens + sum(e[0].n_tokens for e in ev), b.seconds + sum(e[0].seconds for e in ev))
                   for (_, b), ev in zip(chains, evals)]
        grid = lambda flat: [flat[i * n : (i + 1) * n] for i in range(len(questions))]  # noqa: E731
        out = self.finish(task, grid([r[0] for r in merge]), grid(earlier), caps=(self.max_new_tokens_merge, None),
                          first=grid(["\n".join(f"- {k}: {e[0].text.strip()}" for k, e in zip(ks, ev))
                                      for ks, ev in zip(criteria, evals)]))  # the criteria and their evaluations
        # tokens and cut-off replies per step (a judgment's solve step: its longest criterion call)
        out.step_tokens = {k: grid(v) for k, v in (
            ("branch", [b.n_tokens for _, b in chains]), ("solve", [max(e[0].n_tokens for e in ev) for ev in evals]),
            ("merge", [r[0].n_tokens for r in merge]))}
        caps = {"branch": self.max_new_tokens_branch, "solve": self.max_new_tokens, "merge": self.max_new_tokens_merge}
        out.step_capped = {k: [[t >= caps[k] for t in row] for row in v] for k, v in out.step_tokens.items()}
        out.capped = [[any(flags) for flags in zip(*(v[i] for v in out.step_capped.values()))] for i in range(len(questions))]
        return out
