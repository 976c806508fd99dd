"""A method turns questions into final answers through one or more generation steps and counts every token it generates."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

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
    """Per question, per sample: the last step's text, the extracted answer (None = no answer), the tokens
    generated and generation seconds spent over all steps, whether a step stopped at its token cap (`capped`: the
    reply may be cut off; any step), the same per step where a method has several (`step_capped`: step name -> flags),
    and, for two-step methods, what step 2 was given from step 1 (`first`)."""

    texts: list[list[str]]
    answers: list[list[str | None]]
    tokens: list[list[int]]
    seconds: list[list[float]]
    capped: list[list[bool]] = field(default_factory=list)
    first: list[list[str]] = field(default_factory=list)
    step_capped: dict[str, list[list[bool]]] = field(default_factory=dict)
    step_tokens: dict[str, list[list[int]]] = field(default_factory=dict)  # per step: the reply's tokens (the longest
    # call's where a step makes several), what a step's cap is measured against

    def head(self, n: int) -> "MethodOutput":
        """The first n samples of each input (e.g. the one-sample ablation of a filter over N samples)."""
        rows = (self.texts, self.answers, self.tokens, self.seconds, self.capped, self.first)
        return MethodOutput(*([row[:n] for row in r] for r in rows),
                            step_capped={k: [row[:n] for row in v] for k, v in self.step_capped.items()},
                            step_tokens={k: [row[:n] for row in v] for k, v in self.step_tokens.items()})


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

    def finish(self, task: Task, final: list[list[Completion]], earlier: list[list[Completion]] | None = None,
               first: list[list[str]] | None = None, caps: tuple[int, int | None] | None = None,
               steps: tuple[str, str] | None = None) -> MethodOutput:
        """Answers from the final step; cost adds the earlier steps' completion behind each sample. A sample is
        capped when its final (or earlier) completion reached `caps` (default: the method's budget for both; None:
        not checked, e.g. an earlier cost that sums several calls). `steps` names (earlier, final) for the per-step
        record of a two-step method."""
        has_earlier = earlier is not None
        earlier = earlier or [[Completion("", 0)] * len(row) for row in final]
        pairs = [list(zip(f, e)) for f, e in zip(final, earlier)]
        cap, cap_earlier = caps or (self.max_new_tokens, self.max_new_tokens)
        cap_earlier = cap_earlier or float("inf")
        final_cut = [[c.n_tokens >= cap for c, _ in row] for row in pairs]
        earlier_cut = [[e.n_tokens >= cap_earlier for _, e in row] for row in pairs]
        step_capped, step_tokens = {}, {}
        if has_earlier and steps:
            step_capped = {steps[0]: earlier_cut, steps[1]: final_cut}
            step_tokens = {steps[0]: [[e.n_tokens for _, e in row] for row in pairs],
                           steps[1]: [[c.n_tokens for c, _ in row] for row in pairs]}
        return MethodOutput(
            texts=[[c.text for c in row] for row in final],
            answers=[[task.extract(c.text) for c in row] for row in final],
            tokens=[[c.n_tokens + e.n_tokens for c, e in row] for row in pairs],
            seconds=[[c.seconds + e.seconds for c, e in row] for row in pairs],
            capped=[[a or b for a, b in zip(f, e)] for f, e in zip(final_cut, earlier_cut)],
            first=first or [],
            step_capped=step_capped,
            step_tokens=step_tokens,
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

    def __init__(self, max_new_tokens: int = 256, greedy_first: bool = True, max_new_tokens_first: int | None = None):
        self.max_new_tokens, self.greedy_first = max_new_tokens, greedy_first
        self.max_new_tokens_first = max_new_tokens_first or max_new_tokens  # step 1's own cap (None: step 2's)

    @classmethod
    def from_config(cls, cfg, task, shots=()):
        return cls(max_new_tokens=cfg.max_new_tokens, greedy_first=cfg.greedy_rephrase,
                   max_new_tokens_first=cfg.max_new_tokens_first)

    # A method whose steps are fixed wordings sets these and nothing else: step 1's prompt ({question} filled in) and
    # step 2's ({question}, and {first}: what step 2 reads of step 1), which the task's answer-format line follows.
    first_template = ""
    second_template = ""

    def first_prompt(self, question: str) -> str:
        return self.first_template.format(question=question)

    def second_prompt(self, task: Task, question: str, first: str) -> str:
        return answer_prompt(task, self.second_template, question=question, first=self.given(first))

    def given(self, first: str) -> str:
        """What step 2 reads of a step-1 text (S2A: the parsed extraction), kept in the output for diagnostics."""
        return first

    def run(self, engine, task, questions, sampling):
        s = replace(sampling, max_new_tokens=self.max_new_tokens)
        step1 = replace(s if not (self.greedy_first or s.greedy) else replace(s, n=1, temperature=0.0),
                        max_new_tokens=self.max_new_tokens_first)
        first = engine.generate([user(self.first_prompt(q)) for q in questions], step1, desc=f"{self.name} {self.steps[0]}")
        desc = f"{self.name} {self.steps[1]}"
        if step1.n == 1:  # one step-1 text per question, n sampled answers to it
            prompts = [user(self.second_prompt(task, q, r[0].text)) for q, r in zip(questions, first)]
            earlier = [[r[0]] * s.n for r in first]
            final = engine.generate(prompts, s, desc=desc)
        else:  # one answer per sampled step-1 text
            flat = [user(self.second_prompt(task, q, c.text)) for q, r in zip(questions, first) for c in r]
            got = engine.generate(flat, replace(s, n=1), desc=desc)
            earlier, final = first, [[got[i * s.n + j][0] for j in range(s.n)] for i in range(len(questions))]
        return self.finish(task, final, earlier, [[self.given(c.text) for c in row] for row in earlier],
                           caps=(self.max_new_tokens, self.max_new_tokens_first), steps=self.steps)
