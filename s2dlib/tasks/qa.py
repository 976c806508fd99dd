"""Your own data: a question-answering task built from files, not a class (issue 38).

A JSONL or CSV file per split with a question field and an answer field (names configurable); an answer type picks how
an answer is read from a reply and scored:

- `exact`: the text after the answer phrase ("The answer is ..."), compared case- and punctuation-insensitively;
- `number`: the last number after the answer phrase (else in the reply), compared as a number ("1,000" = "1000.0");
- `choice`: one of the listed `choices`, the last one named after the answer phrase (else in the reply);
- `regex`: the first group of `answer_pattern` (else the whole match), last match in the reply (without a match: the
  answer phrase's answer, as a distilled reply gives it), compared as `exact`.

    s2d run --profile quick --only rar_last_letter --name capitals --set task=qa \\
        train_file=data/examples/capitals_train.jsonl test_file=data/examples/capitals_test.jsonl answer_type=exact
"""
from __future__ import annotations

import re

from .base import QUOTED, Example, Task, after_answer_phrase, load_examples, register

ANSWER_TYPES = ("exact", "number", "choice", "regex")
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]|_", " ", text.casefold()).split())


def _number(text: str) -> str | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return str(int(value)) if value.is_integer() else str(value)


@register
class FileQA(Task):
    name = "qa"
    params = ("question_field", "answer_field", "answer_type", "choices", "answer_pattern", "prompt_suffix")

    def __init__(self, question_field: str = "question", answer_field: str = "answer", answer_type: str = "exact",
                 choices=(), answer_pattern: str = "", prompt_suffix: str = ""):
        if answer_type not in ANSWER_TYPES:
            raise ValueError(f"answer_type={answer_type!r}: allowed values are {', '.join(ANSWER_TYPES)}")
        if answer_type == "choice" and len(choices) < 2:
            raise ValueError(f"choices={list(choices)!r}: allowed values are lists of 2 or more options (answer_type=choice)")
        if answer_type == "regex":
            try:
                re.compile(answer_pattern)
            except re.error as e:
                raise ValueError(f"answer_pattern={answer_pattern!r}: allowed values are Python regular expressions ({e})") from None
            if not answer_pattern:
                raise ValueError("answer_pattern='': allowed values are non-empty regular expressions (answer_type=regex)")
        self.question_field, self.answer_field = question_field, answer_field
        self.answer_type, self.choices, self.pattern = answer_type, [str(c) for c in choices], answer_pattern
        shape = {"number": "<number>", "choice": " / ".join(self.choices)}.get(answer_type, "<answer>")
        self.direct_suffix = prompt_suffix or f"Reply with the final answer only, in the form: The answer is {shape}."
        self.final_format = f"End your reply with: The answer is {shape}."

    def check_source(self, n_train, n_test):
        raise ValueError("train_file=None: allowed values are JSONL/CSV files (task=qa reads your data: give "
                         "train_file and test_file)")

    def load(self, path):
        return load_examples(path, self.question_field, self.answer_field)

    def make_splits(self, n_train, n_test, seed):
        self.check_source(n_train, n_test)

    def extract(self, text):
        tail = after_answer_phrase(text)
        if self.answer_type == "number":
            found = NUMBER.findall(tail if tail is not None and NUMBER.search(tail) else text)
            return _number(found[0] if tail is not None and NUMBER.search(tail) else found[-1]) if found else None
        if self.answer_type == "choice":
            scope = _plain(tail if tail is not None else text)
            named = [(m.start(), c) for c in self.choices for m in re.finditer(rf"\b{re.escape(_plain(c))}\b", scope)]
            return max(named)[1] if named else None
        if self.answer_type == "regex":  # the pattern's last match, else (e.g. a distilled reply) the answer phrase's
            found = list(re.finditer(self.pattern, text))
            if found:
                return found[-1].group(1) if found[-1].groups() else found[-1].group(0)
        if tail is None:
            return None
        line = re.split(r"(?<=[.!?])\s|\n", tail.strip(), maxsplit=1)[0]
        quoted = QUOTED.findall(line)
        return (quoted[-1] if quoted else line).strip(" .!*\"'`") or None

    def normalize(self, answer):
        return (_number(answer) or answer.strip()) if self.answer_type == "number" else _plain(answer)

    def format_target(self, answer):
        return f"The answer is {answer}."
