"""LLM-as-a-judge on response pairs (the paper's Branch-Solve-Merge experiment, Tables 3/4): given a user question and
two responses A and B, say which is better ("A", "B", or "tie").

Every pair is judged in both orders: each pair becomes two inputs, (A, B) and the swapped (B, A), sharing
meta["pair"] (un-swap a verdict with `swap_verdict`). Scoring:
- agreement = share of judgments (both orders) whose verdict equals the label of that order; a tie verdict agrees
  only with a tie label, and an unparseable verdict never agrees (it is tallied as no answer);
- swap_inconsistent = share of pairs whose two verdicts differ after un-swapping the second (an unparseable verdict
  makes its pair inconsistent).

Default data (offline): the model's own short answers to verifiable questions (GSM8K, coin flip, last-letter), made by
the pipeline through the engine (`make_splits(..., respond=...)`), all with one prompt and one decoding. A test pair is a
right and a wrong response to the same question, so its label is known (a **substitute for human judgments**,
checking correctness only), with the right one the longer in about half of the pairs (`test_pairs`): neither length
nor a reference answer's format can stand in for judging (issue 35); GSM8K is asked more questions until there are
n_test such pairs (`grow_test_pairs`). Training pairs are two sampled responses to other questions whatever their
correctness, unlabeled as the paper's OASST2 pairs are for the filters; a label is kept where it is known, for the
gold-label ceiling and the kept-target diagnostic only. Every source may be committed (no
red-trivia, GPLv3): the pairs are written to data/ and a run's generations can be archived across machines
(`s2d archive`). Real sets for users who have them: OASST2 message trees and MT-bench human judgments
(`read_judge_file`).
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..jsonio import read_jsonl
from .base import Example, Task, get_task, register

SOURCES = ("gsm8k", "coin_flip", "last_letter")  # verifiable questions the default pairs are built from
QUESTIONS_PER_PAIR = 3  # questions asked per pair wanted: not every question yields a right and a wrong response
RESPONSES_PER_QUESTION = 4  # sampled responses per test question: a right and a wrong one to pair, of chosen lengths
# The source asked for more test questions while the test set has fewer than n_test right/wrong pairs: its training
# questions stay the same when its test split grows (the two ends of one permutation), so the training pairs (and
# their cached judgments) do not move. Coin flip and last-letter draw their training questions after the test ones.
GROWING_SOURCE = "gsm8k"
JUDGE_FORMAT = ('Output your final verdict strictly in this format: "[[A]]" if assistant A is better, "[[B]]" if '
                'assistant B is better, and "[[C]]" for a tie.')
# FastChat's MT-bench pairwise layout (question, then each answer between start/end markers).
PAIR_LAYOUT = ("[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{a}\n[The End of Assistant A's Answer]"
               "\n\n[The Start of Assistant B's Answer]\n{b}\n[The End of Assistant B's Answer]")
_PAIR = re.compile(r"\[User Question\]\n(.*)\n\n\[The Start of Assistant A's Answer\]\n(.*)\n\[The End of Assistant A's "
                   r"Answer\]\n\n\[The Start of Assistant B's Answer\]\n(.*)\n\[The End of Assistant B's Answer\]\Z", re.S)
# MT-bench question ids: 8 categories of 10 questions, in FastChat's question.jsonl order (81-90 writing, ...).
MT_BENCH_CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")


# ---- verdicts --------------------------------------------------------------------------------------------------
_BRACKET = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)
_SIDE = r"(?:assistant|response|answer)\s*\(?\s*([AB])\b\)?"
_BETTER = r"(?:is|was|are|seems|provides|gives)\s+(?:(?:clearly|slightly|much|the|a)\s+)*(?:better|superior|preferred|more\s+(?:accurate|correct|helpful))"
_NAMED = re.compile(rf"{_SIDE}\s+{_BETTER}|(?:verdict|winner|better\s+(?:one|response|answer|assistant)|prefer)"
                    rf"\s*(?:is|:)?\s*\W*(?:{_SIDE}|([AB])\b)", re.IGNORECASE)
_TIE = re.compile(r"\btie\b|\bequally\s+(?:good|bad|correct|helpful)\b|\bneither\s+(?:response|answer|assistant)\s+is\s+better",
                  re.IGNORECASE)


def parse_verdict(text: str) -> str | None:
    """'A', 'B' or 'tie' from a judge's reply, None when there is no verdict.

    In order: the last "[[A]]" / "[[B]]" / "[[C]]" (C = tie, FastChat's format); else the last statement naming a side
    ("Assistant A is better", "Response B is more accurate", "the better response is A", "Verdict: B"); else a tie
    phrase ("tie", "equally good"); else a reply that is only "A" or "B"."""
    marks = _BRACKET.findall(text)
    if marks:
        return {"A": "A", "B": "B"}.get(marks[-1].upper(), "tie")
    named = _NAMED.findall(text)
    if named:
        return next(side for side in named[-1] if side).upper()
    if _TIE.search(text):
        return "tie"
    bare = re.sub(r"[^A-Za-z]", "", text)
    return bare.upper() if bare.upper() in ("A", "B") else None


def swap_verdict(verdict: str | None) -> str | None:
    """A verdict on the swapped pair (B, A) as a verdict on (A, B)."""
    return {"A": "B", "B": "A"}.get(verdict, verdict) if verdict else None


def render_pair(question: str, a: str, b: str) -> str:
    return PAIR_LAYOUT.format(question=question.strip(), a=a.strip(), b=b.strip())


def split_pair(text: str) -> tuple[str, str, str]:
    """(question, response A, response B) of a `render_pair` text."""
    m = _PAIR.match(text)
    if m is None:
        raise ValueError(f"judge input {text[:60]!r}...: expected the render_pair layout ([User Question] ... Assistant B)")
    return m.group(1), m.group(2), m.group(3)


def verdict_bias(verdicts: list[str | None], examples: list[Example]) -> dict[str, float]:
    """How a judge's verdicts lean, in %: by position (A / B / tie / none, over all judgments) and by length.

    "longer %" = verdicts naming the longer response (in words), over A/B verdicts on pairs whose responses differ in
    length; "longer right %" = the same share for the labels, where an unbiased judge that is always right would sit.
    A judge far above "longer right %" prefers long answers, not right ones."""
    def pct(k, n):
        return 100.0 * k / n if n else float("nan")

    longer_of = []
    for e in examples:
        _, a, b = split_pair(e.question)
        la, lb = len(a.split()), len(b.split())
        longer_of.append(None if la == lb else "A" if la > lb else "B")
    sided = [(v, side) for v, side in zip(verdicts, longer_of) if side and v in ("A", "B")]
    labelled = [(side, e.answer) for side, e in zip(longer_of, examples) if side and e.answer in ("A", "B")]
    return {"verdict A %": pct(sum(v == "A" for v in verdicts), len(verdicts)),
            "verdict B %": pct(sum(v == "B" for v in verdicts), len(verdicts)),
            "tie %": pct(sum(v == "tie" for v in verdicts), len(verdicts)),
            "no verdict %": pct(sum(v is None for v in verdicts), len(verdicts)),
            "longer %": pct(sum(v == side for v, side in sided), len(sided)),
            "longer right %": pct(sum(lab == side for side, lab in labelled), len(labelled))}


# ---- pairs ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JudgePair:
    question: str
    first: str
    second: str
    label: str  # "A" = first better, "B" = second better, "tie", "" = unknown
    source: str  # the underlying question (clusters for the bootstrap; never in both train and test)
    category: str
    kind: str = "model"  # model: both responses from the model; reference: a reference answer vs a model response


def pair_examples(pairs: list[JudgePair], split: str, seed: int) -> list[Example]:
    """Two inputs per pair, the order first shown drawn per pair (seeded), then the swapped order."""
    out = []
    for i, p in enumerate(pairs):
        a, b, label = (p.first, p.second, p.label)
        if random.Random(f"{seed}:{split}:{i}").random() < 0.5:
            a, b, label = b, a, swap_verdict(label) or ""
        for order, (x, y, lab) in (("AB", (a, b, label)), ("BA", (b, a, swap_verdict(label) or ""))):
            meta = {"source": p.source, "pair": f"{split}{i}", "order": order, "category": p.category, "kind": p.kind}
            out.append(Example(f"judge-{split}{i}-{order}", render_pair(p.question, x, y), lab, meta))
    return out


def source_questions(n_train: int, n_test: int, seed: int) -> tuple[list[tuple[str, Example]], list[tuple[str, Example]]]:
    """Verifiable (source task, question) pairs for each split, round-robin over SOURCES; each source's own splits
    keep its training and test questions apart."""
    per_source = []
    for name, (tr, te) in zip(SOURCES, source_shares(n_train, n_test)):
        train, test = get_task(name).make_splits(tr, te, seed)
        per_source.append(([(name, e) for e in train], [(name, e) for e in test]))

    def interleave(groups):
        return [x for k in range(max(map(len, groups), default=0)) for g in groups if k < len(g) for x in [g[k]]]

    return interleave([tr for tr, _ in per_source]), interleave([te for _, te in per_source])


def source_shares(n_train: int, n_test: int) -> list[tuple[int, int]]:
    """(training, test) questions asked of each source: an even split, round-robin."""
    def share(n, i):
        return n // len(SOURCES) + (i < n % len(SOURCES))
    return [(share(n_train, i), share(n_test, i)) for i in range(len(SOURCES))]


@lru_cache
def scorer(name: str) -> Task:
    return get_task(name)


def response_prompt(name: str, question: str) -> str:
    return f"{question}\nJustify your answer in one or two short sentences. {scorer(name).final_format}"


def _words(text: str) -> int:
    return len(text.split())


def test_pairs(questions: list[tuple[str, Example]], replies: list[list[str]], n: int) -> list[JudgePair]:
    """Up to n pairs of one right and one wrong response to the same question, both sampled from the model with the
    same prompt and settings (no reference answers): knowing which answer is right is the only way to score well. The
    pair of each question is picked among its right x wrong responses so that the right one is the longer in about
    half of the pairs (a running balance; equal lengths are used only when nothing else is there), so a judge that
    prefers long or short answers cannot score above 50% by length alone (issue 35). Only when fewer than n such
    questions exist do reference-answer pairs fill the set (kind "reference", reported apart)."""
    pairs, longer, shorter, all_wrong = [], 0, 0, []
    for (name, ex), rs in zip(questions, replies):
        ok = [scorer(name).score(scorer(name).extract(r), ex) for r in rs]
        cands = [(r, w) for r, o in zip(rs, ok) if o for w, o2 in zip(rs, ok) if not o2]
        if not any(ok):
            all_wrong.append((name, ex, rs[0]))
        if not cands or len(pairs) == n:
            continue
        want = (lambda r, w: _words(r) > _words(w)) if longer <= shorter else (lambda r, w: _words(r) < _words(w))
        right, wrong = next((c for c in cands if want(*c)), None) or next(
            (c for c in cands if _words(c[0]) != _words(c[1])), cands[0])
        longer, shorter = longer + (_words(right) > _words(wrong)), shorter + (_words(right) < _words(wrong))
        pairs.append(JudgePair(ex.question, right, wrong, "A", ex.question, name, "model"))
    # too few questions with a right and a wrong response (a weak model): the reference answer against a wrong one
    # fills the set, labelled kind="reference" and reported apart (`data_stats`, the agreement_<kind> subsets)
    fill = [JudgePair(ex.question, scorer(name).format_target(ex.answer), wrong, "A", ex.question, name, "reference")
            for name, ex, wrong in all_wrong]
    return pairs + fill[: n - len(pairs)]


def grow_test_pairs(questions: list[tuple[str, Example]], respond, n_train: int, n_test: int, seed: int) -> list[JudgePair]:
    """`test_pairs` of the questions' responses; while fewer than n_test pairs are right/wrong model pairs, ask
    GROWING_SOURCE for QUESTIONS_PER_PAIR more questions per missing pair (the next ones of its test split) and pair
    again, until the set is full, a round adds no pair or the source runs out. A model right on only ~16% of the
    questions' response sets (1.5B, 4 samples, 2026-12-06: GSM8K 29%, coin flip 14%, last-letter 5%) would otherwise
    leave half the set to reference-answer pairs."""
    replies = respond([response_prompt(s, e.question) for s, e in questions], RESPONSES_PER_QUESTION)
    test = test_pairs(questions, replies, n_test)
    name = GROWING_SOURCE
    tr, asked = dict(zip(SOURCES, source_shares(QUESTIONS_PER_PAIR * n_train, QUESTIONS_PER_PAIR * n_test)))[name]
    room = scorer(name).pool_size() - tr - asked
    while (missing := n_test - sum(p.kind == "model" for p in test)) and room > 0:
        k = min(QUESTIONS_PER_PAIR * missing, room)
        more = [(name, e) for e in scorer(name).make_splits(tr, asked + k, seed)[1][asked:]]
        asked, room = asked + k, room - k
        questions, replies = questions + more, replies + respond([response_prompt(name, e.question) for _, e in more],
                                                                 RESPONSES_PER_QUESTION)
        test = test_pairs(questions, replies, n_test)
        if n_test - sum(p.kind == "model" for p in test) == missing:
            break
    return test


def training_pairs(questions: list[tuple[str, Example]], replies: list[list[str]], n: int) -> list[JudgePair]:
    """Up to n pairs of two sampled responses to a question, whatever their correctness (as the paper pairs OASST2
    replies): unlabeled for the filters. The label is kept where it is known (one right, one wrong: "A" or "B"), for
    the gold-label ceiling and the kept-target diagnostic only; "" otherwise. Identical responses make no pair."""
    pairs = []
    for (name, ex), (r1, r2, *_) in zip(questions, replies):
        if r1.strip() == r2.strip() or len(pairs) == n:
            continue
        ok = [scorer(name).score(scorer(name).extract(r), ex) for r in (r1, r2)]
        label = "A" if ok == [True, False] else "B" if ok == [False, True] else ""
        pairs.append(JudgePair(ex.question, r1, r2, label, ex.question, name, "model"))
    return pairs


def right_is_longer(example: Example) -> bool | None:
    """Whether the labelled better response of a judge input is the longer one (in words); None without a label or
    when both have the same length."""
    _, a, b = split_pair(example.question)
    if example.answer not in ("A", "B") or _words(a) == _words(b):
        return None
    return (_words(a) > _words(b)) == (example.answer == "A")


# ---- real sets -----------------------------------------------------------------------------------------------
def _rows(path: Path) -> list:
    """The rows of a JSONL file (a malformed line is named) or of a JSON list."""
    if path.suffix == ".jsonl":
        return [row for _, row in read_jsonl(path)]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"data file {str(path)!r} is malformed JSON ({e.args[0].split(':')[0]})") from None
    return data if isinstance(data, list) else [data]


def read_oasst2(rows: list[dict], path: str, lang: str = "en") -> list[JudgePair]:
    """OASST2 (messages or trees JSONL): for each prompt whose ranked assistant replies number two or more, the best
    (rank 0) against the worst reply; the question is the conversation up to that prompt."""
    flat = [row.get("prompt", row) for row in rows]  # trees: {"message_tree_id", "prompt": {..., "replies": [...]}}
    for node in flat:  # grows while it is read: a tree's nodes in breadth-first order; messages: one a line
        flat.extend(node.get("replies") or [])
    by_id = {m["message_id"]: m for m in flat if "message_id" in m}
    if not by_id:
        raise ValueError(f"data file {path!r}: no OASST2 messages (rows need message_id, parent_id, role, text)")
    children: dict[str, list[dict]] = {}
    for m in by_id.values():
        if m.get("parent_id") and not m.get("deleted") and m.get("role") == "assistant" and m.get("rank") is not None:
            children.setdefault(m["parent_id"], []).append(m)
    pairs = []
    for pid, replies in children.items():
        prompt = by_id.get(pid)
        if prompt is None or len(replies) < 2 or (lang and prompt.get("lang", lang) != lang):
            continue
        turns, node = [], prompt
        while node is not None:
            turns.append(f"{'User' if node['role'] == 'prompter' else 'Assistant'}: {node['text']}")
            node = by_id.get(node.get("parent_id"))
        question = prompt["text"] if len(turns) == 1 else "\n\n".join(reversed(turns))
        best, worst = sorted(replies, key=lambda m: m["rank"])[:: len(replies) - 1]
        pairs.append(JudgePair(question, best["text"], worst["text"], "A", pid, "oasst2"))
    return pairs


def read_mtbench_human(rows: list[dict], path: str) -> list[JudgePair]:
    """MT-bench human judgments (lmsys/mt_bench_human_judgments rows: question_id, model_a, model_b, winner, judge,
    conversation_a/b as role/content turns, turn). Turn 1 judges the first answers; turn 2 shows both turns.
    winner model_a / model_b / tie (any "tie ..." counts as tie). Category from the question id."""
    pairs = []
    for i, r in enumerate(rows, 1):
        try:
            conv_a, conv_b, turn = r["conversation_a"], r["conversation_b"], int(r.get("turn", 1))
            label = {"model_a": "A", "model_b": "B"}.get(r["winner"], "tie" if str(r["winner"]).startswith("tie") else None)
            qid = int(r["question_id"])
        except (KeyError, TypeError, ValueError):
            label = None
        if label is None:
            raise ValueError(f"data file {path!r} row {i}: needs question_id, conversation_a, conversation_b and winner "
                             "(model_a, model_b or tie)")
        users = [m["content"] for m in conv_a if m["role"] == "user"][:turn]

        def answers(conv):
            said = [m["content"] for m in conv if m["role"] == "assistant"][:turn]
            return said[0] if turn == 1 else "\n\n".join(f"Turn {t}: {s}" for t, s in enumerate(said, 1))

        question = users[0] if turn == 1 else "\n\n".join(f"Turn {t}: {u}" for t, u in enumerate(users, 1))
        category = MT_BENCH_CATEGORIES[(qid - 81) // 10] if 81 <= qid <= 160 else "mt_bench"
        pairs.append(JudgePair(question, answers(conv_a), answers(conv_b), label, f"mtbench-{qid}-turn{turn}", category))
    return pairs


def read_judge_file(path: str | Path) -> list[JudgePair]:
    """Labelled pairs from an OASST2 or MT-bench human-judgment file (JSONL, or JSON list), told apart by their fields."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    rows = _rows(path)
    first = rows[0] if rows and isinstance(rows[0], dict) else {}
    if "conversation_a" in first:
        pairs = read_mtbench_human(rows, str(path))
    elif "message_id" in first or "prompt" in first:
        pairs = read_oasst2(rows, str(path))
    else:
        raise ValueError(f"data file {str(path)!r}: allowed formats are OASST2 messages/trees JSONL and MT-bench human "
                         "judgments (question_id, conversation_a, conversation_b, winner)")
    if not pairs:
        raise ValueError(f"data file {str(path)!r} has no response pairs with a preference")
    return pairs


# ---- the task ------------------------------------------------------------------------------------------------
@register
class PairwiseJudge(Task):
    name = "pairwise_judge"
    direct_suffix = ("Please act as an impartial judge: which assistant answered the user question better? "
                     'Reply with the verdict only: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, '
                     '"[[C]]" for a tie.')
    final_format = JUDGE_FORMAT
    needs_responses = True  # default data needs the model's own responses: make_splits takes `respond`
    capabilities = frozenset({"swap_partners", "unswap"})

    def make_splits(self, n_train, n_test, seed, respond=None):
        """`respond(prompts, n)` -> n response texts per prompt (the pipeline's cached engine)."""
        if respond is None:
            raise ValueError("task='pairwise_judge': its default data needs the model's responses (run it through the "
                             "pipeline), or give train_file/test_file (OASST2 or MT-bench human judgments)")
        train_q, test_q = source_questions(QUESTIONS_PER_PAIR * n_train, QUESTIONS_PER_PAIR * n_test, seed)
        test = grow_test_pairs(test_q, respond, n_train, n_test, seed)
        train = training_pairs(train_q, respond([response_prompt(s, e.question) for s, e in train_q], 2), n_train)
        return pair_examples(train, "tr", seed), pair_examples(test, "te", seed)

    def load_splits(self, train_file, test_file, n_train, n_test, seed):
        return (pair_examples(read_judge_file(train_file)[:n_train], "tr", seed),
                pair_examples(read_judge_file(test_file)[:n_test], "te", seed))

    def check_source(self, n_train, n_test):
        for name, (tr, te) in zip(SOURCES, source_shares(QUESTIONS_PER_PAIR * n_train, QUESTIONS_PER_PAIR * n_test)):
            scorer(name).check_source(tr, te)

    def extract(self, text):
        return parse_verdict(text)

    def normalize(self, answer):
        return parse_verdict(answer) or answer

    def format_target(self, answer):
        return "[[C]]" if answer == "tie" else f"[[{answer}]]"

    def metric_subsets(self, examples):
        subsets = {"agreement": list(range(len(examples)))}
        for field in ("category", "kind"):  # kind: a reference answer (short, formatted) is a cue a judge can learn
            values = sorted({e.meta.get(field, "") for e in examples})
            if len(values) > 1:
                subsets.update({f"agreement_{v}": [i for i, e in enumerate(examples) if e.meta.get(field) == v]
                                for v in values})
        longer = [right_is_longer(e) for e in examples]  # length strata: a judge's length bias shows as a gap
        if any(x is not None for x in longer):
            subsets.update({"agreement_right_longer": [i for i, x in enumerate(longer) if x is True],
                            "agreement_right_shorter": [i for i, x in enumerate(longer) if x is False]})
        return subsets

    def data_stats(self, examples):
        """`right_is_longer_pct`: the share of labelled pairs with responses of different lengths whose right response
        is the longer one (40-60 on a test set where length tells nothing); pairs per kind."""
        longer = [x for e in examples if e.meta.get("order") == "AB" for x in [right_is_longer(e)] if x is not None]
        kinds: dict[str, int] = {}
        for e in examples:
            if e.meta.get("order") == "AB":
                kinds[e.meta.get("kind", "")] = kinds.get(e.meta.get("kind", ""), 0) + 1
        return {"right_is_longer_pct": 100 * sum(longer) / len(longer) if longer else float("nan"),
                "pairs_with_length_difference": len(longer), "pairs_by_kind": kinds}

    def answer_outcomes(self, answers, examples):
        """swap_inconsistent per pair (see the module docstring), with the pair's question as its bootstrap cluster."""
        by_pair: dict[str, dict] = {}
        for a, e in zip(answers, examples):
            by_pair.setdefault(e.meta["pair"], {"source": e.meta["source"]})[e.meta["order"]] = a
        full = [p for p in by_pair.values() if "AB" in p and "BA" in p]
        flags = [p["AB"] is None or p["AB"] != swap_verdict(p["BA"]) for p in full]
        return {"swap_inconsistent": (flags, [p["source"] for p in full])}

    unswap = staticmethod(swap_verdict)  # for the swap_consistency filter

    @staticmethod
    def swap_partners(examples: list[Example]) -> list[int | None]:
        """For each input the index of the same pair in the other order (None when that order is missing)."""
        where = {(e.meta["pair"], e.meta["order"]): i for i, e in enumerate(examples)}
        return [where.get((e.meta["pair"], "BA" if e.meta["order"] == "AB" else "AB")) for e in examples]
