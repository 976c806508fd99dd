"""Paired comparisons on the same items, cap accounting per step, coin flip's per-class metrics and prompt variants,
Table 2's known-question subset, and the file-based `qa` task (issues 34, 36, 38)."""
import pytest

from s2dlib.engines.base import Completion
from s2dlib.evaluate import paired_difference, step_diagnostics
from s2dlib.methods.rar import RaR2Step
from s2dlib.tasks import Example, get_task


def test_paired_difference_counts_discordant_items_and_resamples_clusters():
    a, b = [1] * 30 + [0] * 10, [0] * 30 + [0] * 10  # a right on 30 items where b is wrong, never the reverse
    d = paired_difference(a, b)
    assert d["diff"] == 75.0 and d["a_only"] == 30 and d["b_only"] == 0 and d["p"] < 1e-6 and d["ci_low"] > 50
    same = paired_difference(a, a)
    assert same["diff"] == 0.0 and same["p"] == 1.0 and same["ci_low"] == same["ci_high"] == 0.0
    # 4 clusters of 10 identical items: the interval must be as wide as 4 independent items allow, not 40
    x, y = [1] * 10 + [0] * 30, [0] * 40
    narrow, wide = paired_difference(x, y), paired_difference(x, y, clusters=[i // 10 for i in range(40)])
    assert wide["ci_high"] - wide["ci_low"] > narrow["ci_high"] - narrow["ci_low"]
    with pytest.raises(ValueError, match="same items"):
        paired_difference([1], [1, 0])


class FakeEngine:
    """Step 1 replies with `first_len` tokens, step 2 with `second_len` (the caps decide what counts as cut)."""

    def __init__(self, first_len, second_len):
        self.lens = [first_len, second_len]

    def generate(self, prompts, sampling, desc=""):
        n = self.lens.pop(0)
        return [[Completion("The answer is yes.", n)] * sampling.n for _ in prompts]


def test_two_step_caps_are_counted_per_step_in_named_units():
    from s2dlib.engines.base import Sampling

    task = get_task("coin_flip")
    method = RaR2Step(max_new_tokens=64, max_new_tokens_first=200, style="reason")
    out = method.run(FakeEngine(200, 10), task, ["q1", "q2"], Sampling(n=3, temperature=0.5, max_new_tokens=64))
    diag = step_diagnostics(task, [Example("a", "q1", "yes"), Example("b", "q2", "no")], out)
    assert diag["capped_inputs_rephrase"] == 2 and diag["capped_samples_rephrase"] == 6  # the shared rephrasing, cut
    assert diag["capped_inputs_respond"] == 0 and diag["capped_inputs"] == 2 and diag["capped_samples"] == 6
    assert "explaining" not in method.second_prompt(task, "q", "r") and "reasoning" in method.second_prompt(task, "q", "r")
    assert method.second_prompt(task, "q", "r").endswith(task.final_format)  # the format line comes last


def test_held_out_answers_get_the_eval_cap_and_training_targets_keep_theirs(tmp_path, monkeypatch):
    from s2dlib.config import ExperimentConfig
    from s2dlib.engines.base import Sampling
    from s2dlib.pipeline import Experiment

    exp = Experiment(ExperimentConfig(task="coin_flip", model="tiny-random", n_train=4, n_test=4, max_new_tokens=64,
                                      max_new_tokens_eval=96, run_dir=str(tmp_path / "r"),
                                      data_dir=str(tmp_path / "d")), "cap")
    train, test = exp.load_data()
    engine = FakeEngine(0, 0)
    engine.lens = [10, 96, 10, 64]  # test: step 2 reaches the eval cap; training: it reaches the training cap
    monkeypatch.setattr(exp, "engine", lambda adapter=None: engine)
    greedy = Sampling(n=1, temperature=0.0, max_new_tokens=8)
    held_out = exp.generate("rar_2step", test, greedy)
    targets = exp.generate("rar_2step", train, greedy)
    assert all(held_out.step_capped["respond"][i][0] for i in range(4))  # 96 tokens: cut at the eval cap of 96
    assert all(targets.step_capped["respond"][i][0] for i in range(4))  # 64 tokens: cut at the training cap of 64
    engine.lens = [10, 64]
    assert not any(r[0] for r in exp.generate("rar_2step", test, greedy).step_capped["respond"])  # 64 < 96


def test_coin_flip_reports_each_gold_class_and_the_yes_share():
    task = get_task("coin_flip")
    _, test = task.make_splits(4, 8, 0)
    subsets = task.metric_subsets(test)
    assert len(subsets["accuracy_yes"]) == len(subsets["accuracy_no"]) == 4
    share, clusters = task.answer_outcomes(["yes"] * 8, test)["yes_share"]
    assert sum(share) == 8 and len(clusters) == 8
    variants = task.prompt_variants(test[0])
    assert list(variants)[0] == "as trained" and variants["as trained"] == test[0].question
    assert "Flip means reverse" not in variants["no hint"] and variants["reworded"] != test[0].question
    people = test[0].meta["people"]
    assert variants["reversed order"].index(people[-1]) < variants["reversed order"].index(people[0])


def test_known_questions_are_those_system1_answers_in_plain_form():
    task = get_task("sycophancy_qa")
    exs = [Example(f"x{i}", "q", "Paris", {"variant": v, "source": s}) for i, (s, v) in enumerate(
        [("A", "plain"), ("A", "suggest_incorrect"), ("A", "doubt_correct"), ("B", "plain"), ("B", "suggest_incorrect")])]
    known = task.known_subsets(exs, [True, False, False, False, True])  # System 1 knows A in plain form, not B
    assert known == {"accuracy_known_biased": [1, 2]}


@pytest.mark.parametrize("answer_type,extra,reply,gold,ok", [
    ("number", {}, "47 + 25 = 72. The answer is 72.", "72", True),
    ("number", {}, "So she has 1,000 apples in all.", "1000", True),
    ("number", {}, "The answer is 71.", "72", False),
    ("exact", {}, 'The answer is "Paris".', "paris", True),
    ("choice", {"choices": ["red", "green", "blue"]}, "Not red: the answer is green.", "green", True),
    ("regex", {"answer_pattern": r"\[\[(\w)\]\]"}, "Verdict: [[B]]", "B", True),
])
def test_qa_task_reads_and_scores_each_answer_type(answer_type, extra, reply, gold, ok):
    task = get_task("qa", answer_type=answer_type, **extra)
    assert task.score(task.extract(reply), Example("x", "q", gold)) is ok
    assert task.score(task.extract(task.format_target(gold)), Example("x", "q", gold))  # targets read back


def test_qa_task_refuses_bad_settings_in_one_line():
    with pytest.raises(ValueError, match=r"answer_type='float': allowed values are exact, number, choice, regex"):
        get_task("qa", answer_type="float")
    with pytest.raises(ValueError, match=r"choices=\[\]: allowed values are lists of 2 or more"):
        get_task("qa", answer_type="choice")
    with pytest.raises(ValueError, match=r"train_file=None: allowed values are JSONL/CSV files"):
        get_task("qa").check_source(10, 10)
