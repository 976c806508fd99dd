"""A method turns questions into final answers through one or more generation steps and counts every token it generates."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..engines.base import Completion, Engine, Sampling
from ..tasks.base import Task

from ..registry import Registry

METHODS = Registry("method")
register = METHODS.register


def get_method(name: str, **kwargs) -> "Method":
    return METHODS.build(name, **kwargs)


def build_method(name: str, cfg, task: Task, shots=()) -> "Method":
    """The method `name` with the settings the config gives it (each class reads its own fields: `from_config`)."""
    METHODS.check(name)
    return METHODS[name].from_config(cfg, task, shots)


@dataclass
class MethodOutput:
    """Per question, per sample: the last step's text, the extracted answer (None = no answer), and the tokens
    generated and generation seconds spent over all steps."""

    texts: list[list[str]]
    answers: list[list[str | None]]
    tokens: list[list[int]]
    seconds: list[list[float]]

    def head(self, n: int) -> "MethodOutput":
        """The first n samples of each input (e.g. the one-sample ablation of a filter over N samples)."""
        return MethodOutput(*([row[:n] for row in rows] for rows in (self.texts, self.answers, self.tokens, self.seconds)))


def user(content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": content}]


def answer_prompt(task: Task, template: str, **fields) -> str:
    """A step that answers: the template filled in, then the task's answer-format line so the answer can be read back."""
    return template.format(**fields) + "\n" + task.final_format


class Method:
    name = ""
    max_new_tokens = 256

    @classmethod
    def from_config(cls, cfg, task: Task, shots=()) -> "Method":
        """Built from an ExperimentConfig (`shots`: labelled demonstrations, for methods that show worked examples)."""
        return cls(max_new_tokens=cfg.max_new_tokens)

    def run(self, engine: Engine, task: Task, questions: list[str], sampling: Sampling) -> MethodOutput:
        raise NotImplementedError

    @staticmethod
    def finish(task: Task, final: list[list[Completion]], earlier: list[list[Completion]] | None = None) -> MethodOutput:
        """Answers from the final step; cost adds the earlier steps' completion behind each sample."""
        earlier = earlier or [[Completion("", 0)] * len(row) for row in final]
        pairs = [list(zip(f, e)) for f, e in zip(final, earlier)]
        return MethodOutput(
            texts=[[c.text for c in row] for row in final],
            answers=[[task.extract(c.text) for c in row] for row in final],
            tokens=[[c.n_tokens + e.n_tokens for c, e in row] for row in pairs],
            seconds=[[c.seconds + e.seconds for c, e in row] for row in pairs],
        )


class OneStep(Method):
    """A method that asks once per question: `prompt(task, question)`, after the chat turns of `context(task)`."""

    def __init__(self, max_new_tokens: int | None = None):
        if max_new_tokens is not None:  # else the class's budget
            self.max_new_tokens = max_new_tokens

    def prompt(self, task: Task, question: str) -> str:
        raise NotImplementedError

    def context(self, task: Task) -> list[dict[str, str]]:
        return []

    def run(self, engine: Engine, task: Task, questions: list[str], sampling: Sampling) -> MethodOutput:
        turns = self.context(task)
        out = engine.generate([[*turns, *user(self.prompt(task, q))] for q in questions],
                              replace(sampling, max_new_tokens=self.max_new_tokens), desc=self.name)
        return self.finish(task, out)


class TwoStep(Method):
    """Step 1 rewrites each question (RaR: rephrase; S2A: extract the unbiased part); step 2 answers from it.

    Step 1 is greedy and shared by all n samples when `greedy_first` (or the sampling is greedy); otherwise each
    sample gets its own sampled step 1. Tokens of both steps count.
    """

    steps = ("step 1", "step 2")  # progress-bar names of the two steps

    def __init__(self, max_new_tokens: int = 256, greedy_first: bool = True):
        self.max_new_tokens, self.greedy_first = max_new_tokens, greedy_first

    @classmethod
    def from_config(cls, cfg, task, shots=()):
        return cls(max_new_tokens=cfg.max_new_tokens, greedy_first=cfg.greedy_rephrase)

    def first_prompt(self, question: str) -> str:
        raise NotImplementedError

    def second_prompt(self, task: Task, question: str, first: str) -> str:
        raise NotImplementedError

    def run(self, engine, task, questions, sampling):
        s = replace(sampling, max_new_tokens=self.max_new_tokens)
        step1 = s if not (self.greedy_first or s.greedy) else replace(s, n=1, temperature=0.0)
        first = engine.generate([user(self.first_prompt(q)) for q in questions], step1, desc=f"{self.name} {self.steps[0]}")
        desc = f"{self.name} {self.steps[1]}"
        if step1.n == 1:  # one step-1 text per question, n sampled answers to it
            prompts = [user(self.second_prompt(task, q, r[0].text)) for q, r in zip(questions, first)]
            return self.finish(task, engine.generate(prompts, s, desc=desc), [[r[0]] * s.n for r in first])
        # one answer per sampled step-1 text
        flat = [user(self.second_prompt(task, q, c.text)) for q, r in zip(questions, first) for c in r]
        got = engine.generate(flat, replace(s, n=1), desc=desc)
        return self.finish(task, [[got[i * s.n + j][0] for j in range(s.n)] for i in range(len(questions))], first)
