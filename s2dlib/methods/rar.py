"""Rephrase and Respond (Deng et al. 2023), 1-step and 2-step, with the RaR paper's prompts.

The task's answer-format line is appended to the step that answers, so the final answer can be read back. With
`respond_style="reason"` a request to reason comes between the RaR wording and that line: on coin flip the bare format
line made the model reply with nothing but "The answer is yes." (issue 34); the style is chosen on dev inputs.
"""
from .base import OneStep, TwoStep, answer_prompt, register

RESPOND_STYLES = {  # text between the RaR prompt and the task's answer-format line
    "format": "",
    "reason": "\nAnswer the question. Explain your reasoning step by step first; only then give the final answer.",
}

RAR_1STEP = "{question}\nRephrase and expand the question, and respond."
RAR_REPHRASE = (
    "{question}\nGiven the above question, rephrase and expand it to help you do better answering. "
    "Maintain all information in the original question."
)
RAR_RESPOND = (
    "(original) {question}\n(rephrased) {rephrased}\n"
    "Use your answer for the rephrased question to answer the original question."
)


def check_style(style: str) -> str:
    if style not in RESPOND_STYLES:
        raise ValueError(f"respond_style={style!r}: allowed values are {', '.join(RESPOND_STYLES)}")
    return style


@register
class RaR1Step(OneStep):
    name = "rar_1step"

    def __init__(self, max_new_tokens: int | None = None, style: str = "format"):
        super().__init__(max_new_tokens)
        self.style = check_style(style)

    @classmethod
    def from_config(cls, cfg, task, shots=()):
        return cls(max_new_tokens=cfg.max_new_tokens, style=cfg.respond_style)

    def prompt(self, task, question):
        return answer_prompt(task, RAR_1STEP + RESPOND_STYLES[self.style], question=question)


@register
class RaR2Step(TwoStep):
    """Step 1 rephrases (greedy by default, shared by all samples); step 2 answers the original question.

    With `greedy_first=False` (config: greedy_rephrase), each of the n samples gets its own sampled rephrasing.
    """

    name = "rar_2step"
    steps = ("rephrase", "respond")

    def __init__(self, max_new_tokens: int = 256, greedy_first: bool = True, max_new_tokens_first: int | None = None,
                 style: str = "format"):
        super().__init__(max_new_tokens, greedy_first, max_new_tokens_first)
        self.style = check_style(style)

    @classmethod
    def from_config(cls, cfg, task, shots=()):
        return cls(max_new_tokens=cfg.max_new_tokens, greedy_first=cfg.greedy_rephrase,
                   max_new_tokens_first=cfg.max_new_tokens_first, style=cfg.respond_style)

    def first_prompt(self, question):
        return RAR_REPHRASE.format(question=question)

    def second_prompt(self, task, question, first):
        return answer_prompt(task, RAR_RESPOND + RESPOND_STYLES[self.style], question=question, rephrased=first)
