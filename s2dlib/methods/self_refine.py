"""Self-Refine (Madaan et al. 2023), one round: the model drafts an answer step by step, then checks its own draft for
mistakes and gives a corrected final answer. A System 2 method beyond the paper's four (notebook
`self_refine_last_letter`); tokens of both steps count.

The draft is zero-shot chain of thought ("Let's think step by step."); the refining step ends with the task's
answer-format line, so the final answer can be read back. With `greedy_rephrase` one greedy draft per input is shared
by the sampled refinements (the config's switch for every two-step method's step 1).
"""
from .base import TwoStep, register
from .cot import TRIGGER


@register
class SelfRefine(TwoStep):
    name = "self_refine"
    steps = ("draft", "refine")
    first_template = "{question}\n" + TRIGGER
    second_template = ("{question}\n\nA draft answer:\n{first}\n\n"
                       "Check the draft step by step for mistakes and correct any you find.")
