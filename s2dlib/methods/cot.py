"""Chain of Thought: zero-shot (Kojima et al. 2022, "Let's think step by step.") and few-shot (Wei et al. 2022).

The task's answer-format line follows the trigger, so the final answer can be read back from the reasoning.
"""
from .base import OneStep, register, user

TRIGGER = "Let's think step by step."


def cot_prompt(task, question: str) -> str:
    return f"{question}\n{TRIGGER} {task.final_format}"


@register
class CoT(OneStep):
    name = "cot"

    def prompt(self, task, question):
        return cot_prompt(task, question)


@register
class FewShotCoT(CoT):
    """Worked examples as earlier chat turns (each asked in the zero-shot CoT form), then the question."""

    name = "cot_fewshot"

    def __init__(self, max_new_tokens: int | None = None, demos: list[tuple[str, str]] = ()):
        if not demos:
            raise ValueError("demos=[]: allowed values are one or more (question, worked solution) pairs (n_shots >= 1)")
        super().__init__(max_new_tokens)
        self.demos = list(demos)

    @classmethod
    def from_config(cls, cfg, task, shots=()):
        return cls(max_new_tokens=cfg.max_new_tokens, demos=[(e.question, task.worked_solution(e)) for e in shots])

    def context(self, task):
        return [m for q, a in self.demos for m in (*user(cot_prompt(task, q)), {"role": "assistant", "content": a})]
