"""pairwise_judge (verdict parsing, both orders, data from the model's responses, OASST2 / MT-bench loaders), the
judge methods (direct, BSM) and the swap_consistency filter."""
import json
from pathlib import Path

import pytest

from s2dlib.config import ExperimentConfig
from s2dlib.engines.base import Sampling
from s2dlib.evaluate import rate
from s2dlib.filters import get_filter
from s2dlib.methods import get_method
from s2dlib.methods.bsm import DEFAULT_CRITERIA, parse_criteria
from s2dlib.tasks import check_disjoint, get_task
from s2dlib.tasks.pairwise_judge import (JudgePair, pair_examples, parse_verdict, read_judge_file, render_pair,
                                         split_pair, swap_verdict, verdict_bias)

FIXTURES = Path(__file__).parent / "fixtures"
OASST2, MTBENCH = FIXTURES / "oasst2_messages.jsonl", FIXTURES / "mt_bench_human_judgments.jsonl"


@pytest.fixture(scope="module")
def task():
    return get_task("pairwise_judge")


@pytest.mark.parametrize("text,expected", [
    ("[[A]]", "A"),
    ("[[B]]", "B"),
    ("[[C]]", "tie"),
    ("Both are fine. [[tie]]", "tie"),
    ("At first [[A]] seemed right, but my final verdict is [[B]].", "B"),  # the last bracket wins
    ("Assistant A is better.", "A"),
    ("Response B is better because it is correct.", "B"),
    ("Answer A is more accurate than answer B.", "A"),
    ("The better response is Assistant B.", "B"),
    ("Verdict: A", "A"),
    ("Assistant A is correct, but Assistant B is clearly better.", "B"),
    ("It's a tie.", "tie"),
    ("Both answers are equally good.", "tie"),
    ("B", "B"),
    ("**A**", "A"),
    ("A good answer explains its steps.", None),  # an article, not a verdict
    ("Both responses discuss the question.", None),
    ("", None),
])
def test_parse_verdict(text, expected):
    assert parse_verdict(text) == expected


def test_swapped_order_is_unswapped():
    assert [swap_verdict(v) for v in ("A", "B", "tie", None)] == ["B", "A", "tie", None]
    # a judge that always prefers the same content says A in one order and B in the other: consistent
    assert parse_verdict("[[A]]") == swap_verdict(parse_verdict("Assistant B is better."))


def test_render_and_split_pair():
    text = render_pair("What is 2+2?\nShow work.", "4\n\nbecause 2+2=4", "5")
    assert split_pair(text) == ("What is 2+2?\nShow work.", "4\n\nbecause 2+2=4", "5")
    with pytest.raises(ValueError, match="render_pair layout"):
        split_pair("What is 2+2?")


def test_pair_examples_both_orders():
    pairs = [JudgePair(f"q{i}", "right", "wrong", "A", f"q{i}", "gsm8k") for i in range(20)]
    exs = pair_examples(pairs, "te", seed=0)
    assert len(exs) == 40 and [e.meta["order"] for e in exs[:2]] == ["AB", "BA"]
    for ab, ba in zip(exs[::2], exs[1::2]):
        assert ab.meta["pair"] == ba.meta["pair"] and ba.answer == swap_verdict(ab.answer)
        q, a, b = split_pair(ab.question)
        assert (a if ab.answer == "A" else b) == "right" and split_pair(ba.question) == (q, b, a)
    assert 0 < sum(e.answer == "A" for e in exs[::2]) < 20  # which response is shown first is drawn per pair


def test_agreement_and_inconsistency(task):
    exs = pair_examples([JudgePair(f"q{i}", "right", "wrong", "A", f"q{i}", c) for i, c in
                         enumerate(["gsm8k", "gsm8k", "coin_flip"])], "te", seed=1)
    gold = [e.answer for e in exs]
    always_a = ["A"] * 6  # position bias: agrees on half, inconsistent on every pair
    assert [task.score(v, e) for v, e in zip(always_a, exs)].count(True) == 3
    assert task.answer_outcomes(always_a, exs)["swap_inconsistent"][0] == [True] * 3
    assert task.answer_outcomes(gold, exs)["swap_inconsistent"][0] == [False] * 3
    ties = ["tie"] * 6  # consistent, but never agrees with a one-sided label
    assert not any(task.score(v, e) for v, e in zip(ties, exs)) and task.answer_outcomes(ties, exs)["swap_inconsistent"][0] == [False] * 3
    broken = [None] + gold[1:]  # an unparseable verdict: wrong and inconsistent
    assert not task.score(None, exs[0]) and task.answer_outcomes(broken, exs)["swap_inconsistent"][0] == [True, False, False]
    assert set(task.metric_subsets(exs)) == {"agreement", "agreement_gsm8k", "agreement_coin_flip"}
    r = rate("swap_inconsistent", [True, False, False, True])
    assert r["swap_inconsistent"] == 50 and r["n_inconsistent"] == 4 and r["ci_low_inconsistent"] <= 50 <= r["ci_high_inconsistent"]


def test_verdict_bias_by_position_and_length():
    pairs = [JudgePair("q0", "a short right one", "wrong", "A", "q0", "gsm8k"),  # the longer response is right
             JudgePair("q1", "right", "a long wrong answer", "A", "q1", "gsm8k"),  # the longer response is wrong
             JudgePair("q2", "yes", "no", "A", "q2", "gsm8k")]  # equal lengths: no length side
    exs = pair_examples(pairs, "te", seed=0)
    longer = ["A" if len(split_pair(e.question)[1].split()) > len(split_pair(e.question)[2].split()) else "B"
              for e in exs[:4]] + ["A", "A"]
    b = verdict_bias(longer, exs)
    assert b["longer %"] == 100 and b["longer right %"] == 50 and b["tie %"] == 0 and b["no verdict %"] == 0
    assert b["verdict A %"] == pytest.approx(100 * longer.count("A") / 6)
    right = verdict_bias([e.answer for e in exs], exs)
    assert right["longer %"] == right["longer right %"] == 50  # an always-right judge sits at the labels' level
    odd = verdict_bias(["tie", None, "A", "B", "A", "B"], exs)
    assert odd["tie %"] == odd["no verdict %"] == pytest.approx(100 / 6) and odd["verdict A %"] == pytest.approx(200 / 6)


def test_swap_consistency_filter(task):
    exs = pair_examples([JudgePair(f"q{i}", "x", "y", "", f"q{i}", "gsm8k") for i in range(4)], "tr", seed=0)
    partners = task.swap_partners(exs)
    assert partners == [1, 0, 3, 2, 5, 4, 7, 6]
    verdicts = [["A"], ["B"], ["A"], ["A"], ["tie"], ["tie"], [None], ["B"]]  # consistent, biased, tie, no verdict
    res = get_filter("swap_consistency", unswap=task.unswap, normalize=task.normalize)(verdicts, partners)
    assert res.targets == ["A", "B", None, None, "tie", "tie", None, None]
    assert res.kept_fraction == 0.5 and res.stats == {"swap_pairs": 4, "swap_consistent_pairs": 2, "swap_no_verdict": 1}
    assert task.format_target("A") == "[[A]]" and task.format_target("tie") == "[[C]]"


def test_make_splits_from_responses(task):
    """Test pairs: a right and a wrong sampled response to the same question, no reference answers; training pairs:
    two sampled responses whatever their correctness (label kept only where known); no question in both splits."""
    def respond(prompts, n):
        assert n in (2, 4) and all("Justify your answer" in p for p in prompts)
        return [["The answer is -7.", 'The answer is "zz".', "Wrong, it is -9.", "The answer is -11 or so."][:n]
                for _ in prompts]  # every response wrong: only reference-answer pairs can fill the test set

    train, test = task.make_splits(6, 4, seed=0, respond=respond)
    assert len(train) == 12 and len(test) == 8 and {e.meta["kind"] for e in test} == {"reference"}
    check_disjoint(train, test, "judge")
    assert task.data_stats(test)["pairs_by_kind"] == {"reference": 4}
    assert all(e.answer == "" for e in train) and {e.meta["category"] for e in train} == {"gsm8k", "coin_flip", "last_letter"}
    with pytest.raises(ValueError, match="needs the model's responses"):
        task.make_splits(2, 2, seed=0)


def test_test_set_grows_from_gsm8k_until_it_has_enough_model_pairs(task):
    """Too few right/wrong pairs among the first questions: more GSM8K test questions are asked, the training pairs do
    not move, and a model right nowhere ends after one fruitless round with reference pairs filling the set."""
    gold = {e.question: e.answer for e in get_task("gsm8k").make_splits(0, 200, seed=0)[1]}
    calls = []

    def respond(prompts, n):
        calls.append(len(prompts))
        answers = [gold.get(p.split("\nJustify your answer")[0]) for p in prompts]
        if len(calls) == 1 or n == 2:  # the first test round and the training responses: all wrong
            return [["The answer is -1."] * n for _ in prompts]
        return [[f"The answer is {a}.", f"Adding the numbers step by step, the answer is {a}.", "The answer is -1.",
                 "Adding the numbers step by step, the answer is -1."] if a else ["The answer is -1."] * n for a in answers]

    train, test = task.make_splits(6, 4, seed=0, respond=respond)
    assert calls == [12, 12, 18]  # 4 questions per source, then 3 GSM8K questions per missing pair, then training
    assert {(e.meta["kind"], e.meta["category"]) for e in test} == {("model", "gsm8k")} and len(test) == 8
    assert task.data_stats(test)["right_is_longer_pct"] == 50.0
    check_disjoint(train, test, "judge")
    calls.clear()
    respond_wrong = lambda prompts, n: [["The answer is -1."] * n for _ in prompts]  # noqa: E731
    train_wrong, test_wrong = task.make_splits(6, 4, seed=0, respond=lambda p, n: calls.append(len(p)) or respond_wrong(p, n))
    assert train_wrong == train and calls == [12, 12, 18] and {e.meta["kind"] for e in test_wrong} == {"reference"}


def test_test_pairs_balance_which_response_is_longer():
    from s2dlib.tasks.base import Example
    from s2dlib.tasks.pairwise_judge import right_is_longer, test_pairs, training_pairs

    qs = [("last_letter", Example(f"q{i}", f"Take the last letters of the words in word{i}.", "ab")) for i in range(8)]
    short_right, long_right = "The answer is ab.", "Word ends in a, then b: the answer is ab."
    short_wrong, long_wrong = "The answer is zz.", "The last letters are z and z, so the answer is zz."
    replies = [[short_right, long_right, short_wrong, long_wrong]] * 7 + [[short_right, short_right, short_right, short_right]]
    pairs = test_pairs(qs, replies, n=6)
    assert len(pairs) == 6 and all(p.kind == "model" and p.label == "A" for p in pairs)
    examples = pair_examples(pairs, "te", seed=0)
    assert task_stats(examples)["right_is_longer_pct"] == 50.0
    assert sum(right_is_longer(e) for e in examples) == len(examples) / 2
    subsets = get_task("pairwise_judge").metric_subsets(examples)
    assert len(subsets["agreement_right_longer"]) == len(subsets["agreement_right_shorter"]) == 6
    train = training_pairs(qs[:3], [[short_right, short_wrong], [short_wrong, short_right], [short_wrong, long_wrong]], 3)
    assert [p.label for p in train] == ["A", "B", ""]


def task_stats(examples):
    return get_task("pairwise_judge").data_stats(examples)


def test_read_oasst2_messages_and_trees(tmp_path):
    pairs = read_judge_file(OASST2)  # the Spanish tree is left out (lang en)
    assert [(p.first, p.second, p.label) for p in pairs] == [
        ("A spider has eight legs.", "Spiders have six legs, like insects.", "A"),  # rank 0 vs the worst rank
        ("An ant has six legs.", "An ant has eight legs too.", "A")]
    assert pairs[1].question.startswith("User: How many legs") and pairs[1].question.endswith("User: And an ant?")
    # the same messages as one nested tree (OASST2's *.trees.jsonl)
    msgs = [json.loads(line) for line in OASST2.read_text().splitlines()]
    nodes = {m["message_id"]: {**m, "replies": []} for m in msgs}
    for m in nodes.values():
        if m["parent_id"]:
            nodes[m["parent_id"]]["replies"].append(m)
    trees = tmp_path / "trees.jsonl"
    trees.write_text("\n".join(json.dumps({"message_tree_id": r, "tree_state": "ready_for_export", "prompt": nodes[r]})
                               for r in ("p1", "p3")))
    assert sorted(p.first for p in read_judge_file(trees)) == sorted(p.first for p in pairs)


def test_read_mtbench_human(tmp_path):
    pairs = read_judge_file(MTBENCH)
    assert [(p.label, p.category) for p in pairs] == [("B", "writing"), ("A", "math"), ("tie", "humanities")]
    assert pairs[1].question == "Turn 1: What is 12 * 12?\n\nTurn 2: Now divide it by 4."
    assert pairs[1].first == "Turn 1: 144.\n\nTurn 2: 36."
    as_list = tmp_path / "human.json"  # the same rows as one JSON list
    as_list.write_text(json.dumps([json.loads(line) for line in MTBENCH.read_text().splitlines()]))
    assert read_judge_file(as_list) == pairs
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question_id": 81, "conversation_a": [], "conversation_b": [], "winner": "model_c"}) + "\n")
    with pytest.raises(ValueError, match="row 1: needs question_id"):
        read_judge_file(bad)
    other = tmp_path / "other.jsonl"
    other.write_text('{"question": "q", "answer": "a"}\n')
    with pytest.raises(ValueError, match="allowed formats are OASST2"):
        read_judge_file(other)


def test_load_splits_from_files(task):
    train, test = task.load_splits(OASST2, MTBENCH, 5, 2, seed=0)
    assert len(train) == 4 and len(test) == 4 and all(e.answer in ("A", "B", "tie") for e in test)


def test_parse_criteria():
    assert parse_criteria("1. **Correct total**\n2) Units stated\nfoo", 3) == ["Correct total", "Units stated", DEFAULT_CRITERIA[0]]
    assert parse_criteria("no list", 2) == list(DEFAULT_CRITERIA[:2])


def test_bsm_counts_every_step(task, scripted):
    def reply(prompt, i):
        if "evaluation plan" in prompt:
            return "1. correctness\n2. reasoning"
        if "criterion only" in prompt:
            return "A is right. Assistant A: 9, Assistant B: 2"
        return "A is correct on both criteria. [[A]]"

    eng = scripted(reply)
    q = render_pair("What is 2+2?", "4", "5")
    out = get_method("bsm", n_criteria=2).run(eng, task, [q, q], Sampling(n=1, temperature=0.0))
    assert out.answers == [["A"], ["A"]] and eng.batches == [2, 4, 2]  # branch, 2 criteria x 2 inputs, merge
    assert out.tokens == [[5 * 4], [5 * 4]]  # branch + 2 solves + merge, 5 tokens each (scripted)
    sampled = get_method("bsm", n_criteria=1).run(eng, task, [q], Sampling(n=3, temperature=0.7))
    assert len(sampled.answers[0]) == 3 and sampled.tokens[0] == [5 + 5 + 5, 6 + 5 + 5, 7 + 5 + 5]
    direct = get_method("judge_direct").run(scripted(lambda p, i: "[[B]]"), task, [q], Sampling())
    assert direct.answers == [["B"]] and "Reply with the verdict only" in task.direct_prompt(q)
    with pytest.raises(ValueError, match="n_criteria=9: allowed values are integers >= 1 and <= 5"):
        get_method("bsm", n_criteria=9)


@pytest.mark.parametrize("bad,message", [
    ({"n_criteria": 0}, "n_criteria=0: allowed values are integers 1 to 5"),
    ({"max_new_tokens_merge": 0}, "max_new_tokens_merge=0: allowed values are integers >= 1"),
    ({"filter": "swap"}, "filter='swap': allowed values are"),
])
def test_config_rejects(bad, message):
    with pytest.raises(ValueError, match=message):
        ExperimentConfig(task="pairwise_judge", model="tiny-random", **bad)
