"""System 2 Attention (Weston & Sukhbaatar 2023) with the S2A paper's prompts: step 1 rewrites the user's text into
its unbiased context and the actual question, without the user's opinion; step 2 answers from the rewrite alone."""
import re

from .base import TwoStep, answer_prompt, register

S2A_EXTRACT = (
    "Given the following text by a user, extract the part that is unbiased and not their opinion, so that using that "
    "text alone would be good context for providing an unbiased answer to the question portion of the text. Please "
    "include the actual question or query that the user is asking. Separate this into two categories labeled with "
    "\"Unbiased text context (includes all content except user's bias):\" and \"Question/Query (does not include user "
    "bias/preference):\".\n\nText by User: {input}"
)
S2A_ANSWER = "{context}\n\nAnswer in an unbiased way."

# The two labels, also when shortened, bolded or numbered by the model; a label ends at its first colon.
_CONTEXT_LABEL = re.compile(r"unbiased\s+text\s+context[^:\n]*:", re.IGNORECASE)
_QUESTION_LABEL = re.compile(r"question\s*/\s*query[^:\n]*:", re.IGNORECASE)
_EDGES = re.compile(r"^[\s*#:\"“”-]+|[\s*#\"“”]*(?:\d+\.)?[\s*#\"“”]*$")  # markdown, quotes, a next item's number
_EMPTY = {"", "none", "none.", "n/a", "na", "(none)", "no context", "no context."}


def parse_extraction(text: str) -> str:
    """The rewritten user text: the context (unless empty or 'None') and the question, read from under the two labels.

    Without a question label the whole step-1 text is used as it is (what the model wrote is still all step 2 sees).
    The question is its label's first paragraph, so an answer the model adds after it does not leak into step 2.
    """
    ctx = _CONTEXT_LABEL.search(text)
    q = _QUESTION_LABEL.search(text, ctx.end() if ctx else 0)
    question = _EDGES.sub("", re.split(r"\n\s*\n", text[q.end():].strip(), maxsplit=1)[0]) if q else ""
    if not question:
        return text.strip()
    context = _EDGES.sub("", text[ctx.end() : q.start()]) if ctx else ""
    return question if context.lower() in _EMPTY else f"{context}\n\n{question}"


@register
class S2A(TwoStep):
    name = "s2a"
    steps = ("extract", "answer")

    def first_prompt(self, question):
        return S2A_EXTRACT.format(input=question)

    def given(self, first):
        return parse_extraction(first)

    def second_prompt(self, task, question, first):
        return answer_prompt(task, S2A_ANSWER, context=self.given(first))
