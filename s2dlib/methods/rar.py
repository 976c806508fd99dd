"""Rephrase and Respond (Deng et al. 2023), 1-step and 2-step, with the RaR paper's prompts.

The task's answer-format line is appended to the step that answers, so the final answer can be read back.
"""
from .base import OneStep, TwoStep, answer_prompt, register

RAR_1STEP = "{question}\nRephrase and expand the question, and respond."
RAR_REPHRASE = (
    "{question}\nGiven the above question, rephrase and expand it to help you do better answering. "
    "Maintain all information in the original question."
)
RAR_RESPOND = (
    "(original) {question}\n(rephrased) {rephrased}\n"
    "Use your answer for the rephrased question to answer the original question."
)


@register
class RaR1Step(OneStep):
    name = "rar_1step"

    def prompt(self, task, question):
        return answer_prompt(task, RAR_1STEP, question=question)


@register
class RaR2Step(TwoStep):
    """Step 1 rephrases (greedy by default, shared by all samples); step 2 answers the original question.

    With `greedy_first=False` (config: greedy_rephrase), each of the n samples gets its own sampled rephrasing.
    """

    name = "rar_2step"
    steps = ("rephrase", "respond")

    def first_prompt(self, question):
        return RAR_REPHRASE.format(question=question)

    def second_prompt(self, task, question, first):
        return answer_prompt(task, RAR_RESPOND, question=question, rephrased=first)
