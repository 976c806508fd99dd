import json
from pathlib import Path

import pytest

from s2dlib.tasks import TASKS, Example, check_disjoint, get_task, load_examples, save_examples
from s2dlib.tasks.sycophancy import read_quiz_file


@pytest.mark.parametrize("text,expected", [
    ('The answer is "nk".', "nk"),
    ("The answer is nk.", "nk"),
    ("the answer is: NK", "nk"),
    ('**Answer:** `nk`', "nk"),
    ('The last letters are "n" and "k". Concatenating them gives "nk".', "nk"),
    ("Final answer: 'yd'", "yd"),
    ('So the result is "ey". The answer is "ey".', "ey"),
    ('Step 1: "Elon" ends in "n". The answer is "nk"', "nk"),
    ("nk", "nk"),
    ('"NK"', "nk"),
    ("The answer is **n-k**.", "nk"),
    ("Sure, let me rephrase the question.", None),
    ("", None),
])
def test_last_letter_extract(text, expected):
    assert get_task("last_letter").extract(text) == expected


REAL = Path(__file__).parent / "data" / "last_letter_outputs.jsonl"


@pytest.mark.parametrize("row", [json.loads(line) for line in REAL.read_text().splitlines()], ids=lambda r: r["stated_answer"])
def test_last_letter_extract_real_outputs(row):
    """Real 2-step RaR outputs of Qwen2.5-Coder-1.5B (quick run, 2026-12-01), each labelled by hand with the answer the
    text states (not the gold answer): conclusions without an answer phrase, unquoted answers, code output blocks."""
    assert get_task("last_letter").extract(row["text"]) == row["stated_answer"]


@pytest.mark.parametrize("text,expected", [
    ("Yes", "yes"),
    ("yes.", "yes"),
    ("No, it is not.", "no"),
    ("The answer is no.", "no"),
    ("The answer is: Yes", "yes"),
    ('Answer: "no"', "no"),
    ("**Yes**, the coin is still heads up.", "yes"),
    ("After both people act, the coin is still heads up.", "yes"),
    ("Ka flips it once, so the coin is not heads up.", "no"),
    ("The coin is no longer heads up.", "no"),
    ("The coin ends up tails up.", "no"),
    ("The coin was heads up. After two flips it is heads up again.", "yes"),
    ("Let me think about the coin.", None),
])
def test_coin_flip_extract(text, expected):
    assert get_task("coin_flip").extract(text) == expected


def test_scoring_normalizes():
    ll, cf = get_task("last_letter"), get_task("coin_flip")
    ex = Example("x", "q", "nk")
    assert ll.score("NK", ex) and ll.score('"n k"', ex) and not ll.score("kn", ex) and not ll.score(None, ex)
    assert cf.score("Yes", Example("y", "q", "yes")) and not cf.score("no", Example("y", "q", "yes"))


@pytest.mark.parametrize("name,k", [("last_letter", 2), ("last_letter", 4), ("coin_flip", 2), ("coin_flip", 3)])
def test_splits_disjoint_seeded_and_answers_correct(name, k):
    task = get_task(name, k=k)
    train, test = task.make_splits(60, 40, seed=3)
    assert len(train) == 60 and len(test) == 40
    check_disjoint(train, test)
    assert {e.question for e in train}.isdisjoint({e.question for e in test})
    assert task.make_splits(60, 40, seed=3) == (train, test)
    assert task.make_splits(60, 40, seed=4)[1] != test
    for e in train + test:
        if name == "last_letter":
            assert len(e.meta["words"]) == k and e.answer == "".join(w[-1] for w in e.meta["words"]).lower()
            assert f'"{" ".join(e.meta["words"])}"' in e.question
        else:
            assert len(e.meta["people"]) == k and e.answer == ("yes" if sum(e.meta["flips"]) % 2 == 0 else "no")
            assert task.extract(task.format_target(e.answer)) == e.answer


def test_coin_flip_balanced():
    train, test = get_task("coin_flip").make_splits(40, 20, seed=0)
    assert sum(e.answer == "yes" for e in test) == 10 and sum(e.answer == "yes" for e in train) == 20


def test_targets_round_trip():
    task = get_task("last_letter")
    assert task.extract(task.format_target("xy")) == "xy"


def test_overlap_rejected():
    a = Example("1", "same question", "x")
    with pytest.raises(ValueError, match="both train and test"):
        check_disjoint([a], [Example("2", "same question", "x")])


def test_save_and_load_round_trip(tmp_path):
    train, _ = get_task("last_letter").make_splits(5, 1, seed=0)
    save_examples(train, tmp_path / "train.jsonl")
    assert load_examples(tmp_path / "train.jsonl") == train


@pytest.mark.parametrize("loader,content,match", [
    (load_examples, '{"question": "q1", "answer": "a"}\n{"question": "", "answer": "b"}\n', "row 2"),
    (load_examples, '{"question": "q1"}\n', "row 1"),
    (load_examples, '{"question": "q1", "answer": "a"\n', "malformed"),
    (read_quiz_file, '{"question": "q1", "answer": "a"}\n{"question": "q2", "answer"\n', "malformed JSON"),
    (read_quiz_file, '{"question": "Who?", "answer": {"value": "", "aliases": []}}\n', "row 1: needs a question and at least one"),
    (read_quiz_file, '{"base": {"dataset": "truthful_qa", "question": "q", "correct_answer": "a"}}\n', "no trivia question rows"),
])
def test_loaders_reject_bad_rows(tmp_path, loader, content, match):
    p = tmp_path / "bad.jsonl"
    p.write_text(content)
    with pytest.raises(ValueError, match=match):
        loader(p)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_examples(tmp_path / "nope.jsonl")


def test_unknown_task():
    with pytest.raises(ValueError, match=f"task='nope': allowed values are {', '.join(sorted(TASKS))}"):
        get_task("nope")
