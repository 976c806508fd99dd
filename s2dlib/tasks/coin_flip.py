"""Coin flip (Wei et al. 2022), phrased as in the RaR data the paper used:
'A coin is heads up. X flips the coin. Y does not flip the coin. Is the coin still heads up? Flip means reverse.'"""
from __future__ import annotations

import random
import re

from .base import Example, after_answer_phrase, register, source_of
from .names import CensusNameTask, census_names, draw_unique

YES = {"yes", "true", "correct", "heads", "still heads up"}
NO = {"no", "false", "incorrect", "tails", "not"}
_STATE = re.compile(
    r"(not\s+(?:still\s+)?heads[\s-]up|no\s+longer\s+heads[\s-]up|tails[\s-]up|lands?\s+(?:on\s+)?tails|"
    r"still\s+heads[\s-]up|remains?\s+heads[\s-]up|heads[\s-]up)",
    re.IGNORECASE,
)


@register
class CoinFlip(CensusNameTask):
    name = "coin_flip"
    direct_suffix = "Reply with the final answer only, in the form: The answer is yes. / The answer is no."
    final_format = "End your reply with: The answer is yes. / The answer is no."
    unit = "people per question"

    def question(self, people: tuple[str, ...], flips: tuple[bool, ...]) -> str:
        acts = " ".join(f"{p} flips the coin." if f else f"{p} does not flip the coin." for p, f in zip(people, flips))
        return f"A coin is heads up. {acts} Is the coin still heads up? Flip means reverse."

    def prompt_variants(self, example):
        """The paper's second coin-flip claim (System 1 is swayed by small changes of the prompt): the question as
        trained, without the hint "Flip means reverse.", with the people in reverse order (the answer is a parity, so
        order does not matter), and with another wording of the final question."""
        people, flips = example.meta["people"], example.meta["flips"]
        q = example.question
        return {"as trained": q,
                "no hint": q.replace(" Flip means reverse.", ""),
                "reversed order": self.question(tuple(people[::-1]), tuple(flips[::-1])),
                "reworded": q.replace("Is the coin still heads up?", "Does the coin still show heads?")}

    def make_splits(self, n_train, n_test, seed):
        first = census_names("first", self.vocab)
        rng = random.Random(seed)

        def draw(r):
            return tuple(r.sample(first, self.k)), tuple(r.random() < 0.5 for _ in range(self.k))

        items = draw_unique(rng, 4 * (n_train + n_test), draw, f"coin_flip k={self.k}")
        yes = [it for it in items if sum(it[1]) % 2 == 0]
        no = [it for it in items if sum(it[1]) % 2 == 1]

        def split(n, offset):  # balanced yes/no; yes/no pools are consumed disjointly by test then train
            h = n // 2
            chosen = yes[offset[0] : offset[0] + n - h] + no[offset[1] : offset[1] + h]
            offset[0] += n - h
            offset[1] += h
            rng.shuffle(chosen)
            return chosen

        offset = [0, 0]
        test, train = split(n_test, offset), split(n_train, offset)
        if len(test) < n_test or len(train) < n_train:
            raise ValueError(f"coin_flip k={self.k}: cannot draw {n_train}+{n_test} balanced questions; lower the sizes")

        def ex(prefix, i, it):
            people, flips = it
            return Example(f"cf{self.k}-{prefix}{i}", self.question(people, flips),
                           "yes" if sum(flips) % 2 == 0 else "no", {"people": list(people), "flips": list(flips)})

        return [ex("tr", i, it) for i, it in enumerate(train)], [ex("te", i, it) for i, it in enumerate(test)]

    def metric_subsets(self, examples):
        """Accuracy on all inputs and per gold class, so a model that always says one word shows as 100 / 0."""
        return {"accuracy": list(range(len(examples))),
                **{f"accuracy_{c}": [i for i, e in enumerate(examples) if e.answer == c] for c in ("yes", "no")}}

    def answer_outcomes(self, answers, examples):
        """The share of 'yes' answers (the test sets are balanced: a constant model shows as 0 or 100)."""
        return {"yes_share": ([a is not None and self.normalize(a) == "yes" for a in answers],
                              [source_of(e) for e in examples])}

    def normalize(self, answer):
        a = answer.strip().lower().strip(".!\"'*` ")
        return "yes" if a in YES else "no" if a in NO else a

    def format_target(self, answer):
        return f"The answer is {answer}."

    def extract(self, text):
        tail = after_answer_phrase(text)
        if tail is not None:
            m = re.match(r"[\s\"'*`]*(yes|no)\b", tail, re.IGNORECASE)
            if m:
                return m.group(1).lower()
        m = re.match(r"[\s\"'*`]*(yes|no)\b", text, re.IGNORECASE)
        if m:
            return m.group(1).lower()
        states = _STATE.findall(text)
        if states:
            last = states[-1].lower()
            return "no" if last.startswith(("not", "no", "tails", "land")) else "yes"
        return None
