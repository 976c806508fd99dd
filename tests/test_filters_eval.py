import math

import pytest

from s2dlib.evaluate import accuracy_row, bootstrap_ci
from s2dlib.filters import FILTERS, USC_PROMPT, FilterResult, filter_stats, get_filter, parse_choice


def test_self_consistency_majority_threshold_and_margin():
    sc = get_filter("self_consistency", min_agreement=0.5, margin=1)
    res = sc([
        ["ab", "ab", "ab", "ab", "cd", None, None, None],  # 4/8 = 0.5, leads by 3 -> kept
        ["ab", "ab", "ab", "cd", "cd", "cd", "ef", None],  # 3/8 < 0.5 -> dropped
        ["ab", "ab", "ab", "ab", "cd", "cd", "cd", "cd"],  # tie 4-4 -> margin fails -> dropped
        [None] * 8,  # nothing parsed -> dropped
    ])
    assert res.targets == ["ab", None, None, None]
    assert res.agreement == [0.5, 0.375, 0.5, 0.0]
    assert res.kept == 1 and res.kept_fraction == 0.25


def test_self_consistency_normalizes_before_voting():
    sc = get_filter("self_consistency", min_agreement=0.6, normalize=str.lower)
    assert sc([["AB", "ab", "Ab", "cd", None]]).targets == ["ab"]


def test_plurality_mode_keeps_top_answer():
    sc = get_filter("self_consistency", min_agreement=0.0, margin=0)
    assert sc([["x", "y", "y"], ["q", None, None]]).targets == ["y", "q"]


def test_filter_stats_use_labels_only_where_known_and_count_every_generated_token():
    from s2dlib.methods import MethodOutput
    from s2dlib.tasks import Example, get_task

    task = get_task("last_letter")
    train = [Example("1", "q1", "ab"), Example("2", "q2", "cd"), Example("3", "q3", "")]  # q3: no label (a judge pair)
    out = MethodOutput([[], [], []], [["ab", "ab"], ["xx", None], ["ef", "ef"]], [[10, 20], [30, 40], [5, 5]],
                       [[1.0, 1.0]] * 3)
    res = FilterResult(["ab", None, "ef"], [1.0, 0.5, 1.0], tokens=[3, 0, 3], stats={"extra": 1})
    st = filter_stats(task, train, out, res)
    assert (st["inputs"], st["kept"], st["kept_target_acc"], st["sample_acc"]) == (3, 2, 100.0, 50.0)
    assert st["no_answer_pct"] == pytest.approx(100 / 6) and st["tokens_per_sample"] == pytest.approx(110 / 6)
    assert st["system2_tokens_per_input"] == pytest.approx((33 + 70 + 13) / 3) and st["filter_tokens_per_input"] == 2
    assert st["extra"] == 1
    gold = filter_stats(task, train, None, FilterResult(["ab", "cd", None], [1.0] * 3))
    assert (gold["kept_target_acc"], gold["system2_tokens_per_input"], gold["tokens_per_sample"]) == (100.0, 0.0, 0.0)
    assert math.isnan(gold["sample_acc"])


def test_no_filter_takes_first_sample():
    res = get_filter("none")([["a", "b"], [None, "b"]])
    assert res.targets == ["a", None] and res.kept == 1


@pytest.mark.parametrize("kwargs,match", [({"min_agreement": 1.5}, "min_agreement"), ({"margin": -1}, "margin")])
def test_filter_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_filter("self_consistency", **kwargs)


def test_unknown_filter():
    with pytest.raises(ValueError, match=f"filter='maj': allowed values are {', '.join(sorted(FILTERS))}"):
        get_filter("maj")


@pytest.mark.parametrize("text,k,expected", [
    ("The most consistent response is Response 2", 3, 2),
    ("**The most consistent response is Response #1.** It matches the others.", 3, 1),
    ("The most consistent response is: Response 0", 3, 0),
    ("Responses 0 and 2 agree, but Response 1 is the most common.", 3, 1),  # no phrase: first 'Response X'
    ("The most consistent response is Response 7", 3, None),  # out of range
    ("I cannot decide between them.", 3, None),
    ("", 3, None),
])
def test_usc_choice_parsing(text, k, expected):
    assert parse_choice(text, k) == expected


def test_usc_choices_fallbacks_and_costs(scripted):
    """One call per input with disagreeing answers; malformed choices fall back to the majority answer (ties: lowest
    response number) and are counted; unanimous inputs need no call; inputs without any answer are dropped."""
    choices = {"Q-valid": "The most consistent response is Response 2.", "Q-malformed": "They all look fine.",
               "Q-range": "The most consistent response is Response 9", "Q-none": "The most consistent response is Response 1",
               "Q-tie": "no idea"}
    eng = scripted(lambda prompt, i: next(v for k, v in choices.items() if f"question: {k}\n" in prompt))
    usc = get_filter("usc", engine=eng, normalize=str.lower)
    answers = [["x", "y", "Z"], ["y", "x", "x"], ["a", "b", "b"], ["a", None, "b"], ["p", "q", "r"], ["s", "S", None], [None] * 3]
    questions = ["Q-valid", "Q-malformed", "Q-range", "Q-none", "Q-tie", "Q-unanimous", "Q-empty"]
    texts = [[f"text {q} {j}" for j in range(3)] for q in questions]
    res = usc(answers, texts, questions)
    assert res.targets == ["z", "x", "b", "a", "p", "s", None]
    assert res.stats == {"usc_calls": 5, "usc_unanimous": 1, "usc_malformed": 3, "usc_chose_no_answer": 1, "usc_dropped": 1}
    assert res.tokens == [5, 5, 5, 5, 5, 0, 0]  # the selection call's tokens count as System 2 cost
    assert eng.calls == 1 and eng.generated == 5
    assert res.agreement[1] == pytest.approx(2 / 3) and res.agreement[6] == 0.0
    prompt = usc.prompt("Q?", ["first", " second\n"])
    assert prompt == USC_PROMPT.format(question="Q?", responses="Response 0: first\nResponse 1: second")
    assert prompt.endswith('Start your answer with "The most consistent response is Response X" (without quotes).')


def test_usc_single_sample_needs_no_call(scripted):
    eng = scripted(lambda p, i: "unused")
    res = get_filter("usc", engine=eng)([["a"], [None]], [["t"], ["u"]], ["q1", "q2"])
    assert res.targets == ["a", None] and eng.calls == 0 and res.tokens == [0, 0]


def test_bootstrap_ci_resamples_clusters_together():
    correct = [True] * 15 + [False] * 15
    plain = bootstrap_ci(correct, seed=0)
    assert bootstrap_ci(correct, seed=0, clusters=list(range(30))) == plain  # singleton clusters: the plain bootstrap
    lo, hi = bootstrap_ci(correct, seed=0, clusters=[i // 3 for i in range(30)])  # 10 questions x 3 variants
    assert lo < plain[0] and hi > plain[1]


def test_accuracy_row_subsets():
    row = accuracy_row([True, False, True, True], [1, 2, 3, 4], 0, subsets={"accuracy_a": [0, 1], "accuracy_b": [2, 3]})
    assert row["accuracy_a"] == 50.0 and row["n_a"] == 2 and row["accuracy_b"] == 100.0 and row["ci_low_b"] == 100.0
    assert row["n"] == 4 and row["tokens"] == 2.5 and "accuracy" not in row


def test_bootstrap_ci_brackets_mean_and_is_seeded():
    correct = [True] * 30 + [False] * 70
    lo, hi = bootstrap_ci(correct, seed=1)
    assert lo < 30 < hi and 15 < lo and hi < 45
    assert bootstrap_ci(correct, seed=1) == (lo, hi)
    assert bootstrap_ci([True] * 10) == (100.0, 100.0)
    assert all(math.isnan(x) for x in bootstrap_ci([]))


def test_accuracy_row():
    row = accuracy_row([True, False, False, True], [10, 20, 30, 40], no_answer=1)
    assert row["accuracy"] == 50.0 and row["tokens"] == 25.0 and row["n"] == 4 and row["no_answer"] == 1


def test_shortest_and_longest_consistent_cot_keep_whole_texts_of_the_majority():
    """System 1.5 targets: the vote of self-consistency, then the shortest (control: longest) sample that gave the
    majority answer, as its whole text; no-answer, minority and cut-off samples are no candidates."""
    from s2dlib.methods import MethodOutput
    from s2dlib.tasks import Example, get_task

    task = get_task("gsm8k")
    answers = [["18", "18.00", "20", None, "$18"],  # majority 18 (3/5); the no-answer and minority samples are shorter
               ["5", "6", "7", "8", "9"],  # no majority: dropped by the vote, stays dropped
               ["4", "4", "4", "4", "3"],  # 10 tokens twice: the first sampled; the 40-token sample was cut off
               ["2", "2", "2", "1", "1"],  # a majority, but every sample of it was cut off: dropped
               [None] * 5]  # no answer at all: dropped
    tokens = [[30, 12, 5, 3, 50], [1, 2, 3, 4, 5], [20, 10, 10, 40, 2], [5, 6, 7, 8, 9], [1] * 5]
    capped = [[False] * 5, [False] * 5, [False, False, False, True, False], [True, True, True, False, False], [False] * 5]
    texts = [[f" chain {i}-{j}\n" for j in range(5)] for i in range(5)]
    out = MethodOutput(texts, answers, tokens, [[0.0] * 5] * 5, capped)
    train = [Example(str(i), f"q{i}", "18" if i == 0 else "4") for i in range(5)]
    short = get_filter("self_consistency_shortest", normalize=task.normalize).apply(out, train)
    long = get_filter("self_consistency_longest", normalize=task.normalize).apply(out, train)
    vote = get_filter("self_consistency", normalize=task.normalize)(answers)
    for res in (short, long):
        assert res.targets == ["18", None, "4", None, None] and res.agreement == vote.agreement
        assert res.stats["capped_dropped"] == 1 and res.stats["consistent_tokens"] == (30 + 12 + 50 + 20 + 10 + 10) / 6
    assert short.texts == ["chain 0-1", None, "chain 2-1", None, None] and short.stats["target_tokens"] == 11
    assert long.texts == ["chain 0-4", None, "chain 2-0", None, None] and long.stats["target_tokens"] == 35
    st = filter_stats(task, train, out, short)
    assert (st["kept"], st["kept_target_acc"], st["target_tokens"]) == (2, 100.0, 11)
    uncut = get_filter("self_consistency_shortest").apply(MethodOutput(texts, answers, tokens, [[0.0] * 5] * 5), train)
    assert uncut.texts[3] == "chain 3-0" and uncut.stats["capped_dropped"] == 0  # no cap flags: every sample counts
