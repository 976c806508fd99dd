"""System 1: answer directly, no intermediate tokens. Distilled models are evaluated with this same prompt."""
from .base import OneStep, register


@register
class System1(OneStep):
    name = "system1"
    max_new_tokens = 32

    @classmethod
    def from_config(cls, cfg, task, shots=()):
        return cls(max_new_tokens=cfg.max_new_tokens_direct)

    def prompt(self, task, question):
        return task.direct_prompt(question)
