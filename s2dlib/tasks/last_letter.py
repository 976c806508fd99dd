"""Last-letter concatenation (Wei et al. 2022), phrased as in the RaR data the paper used:
'Take the last letters of the words in "Elon Musk" and concatenate them.'"""
from __future__ import annotations

import random
import re

from .base import QUOTED, Example, after_answer_phrase, register
from .names import CensusNameTask, census_names, draw_unique

# How the 1.5B model states a result without an answer phrase (seen in its RaR outputs, tests/data): "... concatenated
# (together) are "dd".", "Concatenating these last letters, we get: rk", '"l" + "s" = "ls"', "the result is ab".
CONCLUSION = re.compile(r"(?:concatenat\w*|combin\w*|result\w*|together|we get|gives?)[^\n.]*?"
                        r"(?:\bis\b|\bare\b|\bget\b|\bgives?\b|=|:)\s*[\"'“”‘’*`]*([A-Za-z]{1,12})[\"'“”‘’*`]*"
                        r"\s*(?=[.!,;\n]|$)", re.I)
OUTPUT_BLOCK = re.compile(r"```output\s*\n\s*([A-Za-z]{1,12})\s*\n\s*```")  # the printed result of its own code


@register
class LastLetter(CensusNameTask):
    name = "last_letter"
    direct_suffix = 'Reply with the final answer only, in the form: The answer is "<letters>".'
    final_format = 'End your reply with: The answer is "<letters>".'
    unit = "words per name"

    def question(self, words: tuple[str, ...]) -> str:
        return f'Take the last letters of the words in "{" ".join(words)}" and concatenate them.'

    def make_splits(self, n_train, n_test, seed):
        first, last = census_names("first", self.vocab), census_names("last", self.vocab)
        draw = lambda r: (*r.sample(first, self.k - 1), r.choice(last))  # noqa: E731 (k-1 first names + a surname)
        tuples = draw_unique(random.Random(seed), n_train + n_test, draw, f"last_letter k={self.k}")
        exs = [Example(f"ll{self.k}-{i}", self.question(t), "".join(w[-1] for w in t).lower(), {"words": list(t)})
               for i, t in enumerate(tuples)]
        return exs[n_test:], exs[:n_test]

    def normalize(self, answer):
        return re.sub(r"[^a-z]", "", answer.lower())

    def extract(self, text):
        """The answer phrase's answer; else the last stated conclusion; else the output of the model's own code;
        else the last quoted letters; else a bare reply of letters."""
        tail = after_answer_phrase(text)
        if tail is not None:
            first_line = re.split(r"(?<=[.!?])\s|\n", tail.strip(), maxsplit=1)[0]
            quoted = [q for q in QUOTED.findall(first_line) if self.normalize(q)]
            if quoted:
                return self.normalize(quoted[-1])
            word = re.match(r"\s*([A-Za-z](?:[\s-]?[A-Za-z])*)\b", first_line)
            if word and len(word.group(1).split()) <= 1:
                return self.normalize(word.group(1))
        for pattern in (CONCLUSION, OUTPUT_BLOCK):
            found = pattern.findall(text)
            if found:
                return self.normalize(found[-1])
        quoted = [q for q in QUOTED.findall(text) if re.fullmatch(r"[A-Za-z]+", q.strip())]
        if quoted:
            return self.normalize(quoted[-1])
        bare = text.strip().strip(".!\"'*` ")
        return bare.lower() if re.fullmatch(r"[A-Za-z]{1,12}", bare) else None
