import json
import warnings

import pytest

from s2dlib.cache import CachedEngine, CompletionCache, completion_key
from s2dlib.engines.base import Completion, Sampling
from s2dlib.methods import METHODS, get_method
from s2dlib.tasks import get_task


def msgs(i):
    return [{"role": "user", "content": f"question {i}"}]


def test_resume_generates_only_missing(tmp_path, scripted):
    path = tmp_path / "gen.jsonl"
    s = Sampling(n=3, temperature=0.7, seed=1)
    eng = scripted(lambda p, i: f"{p}/{i}")
    first = CachedEngine(eng, CompletionCache(path), chunk=6).generate([msgs(i) for i in range(4)], s)
    assert eng.generated == 12
    eng2 = scripted(lambda p, i: "SHOULD NOT BE USED")
    cached = CachedEngine(eng2, CompletionCache(path), chunk=6)
    again = cached.generate([msgs(i) for i in range(6)], s)
    assert again[:4] == first
    assert eng2.generated == 6 and again[5][0].text == "SHOULD NOT BE USED"  # only the two new prompts (one chunk)


def test_chunks_are_fixed_by_position(tmp_path, scripted):
    """A chunk is regenerated whole, so batches (and thus sampling seeds) are the same after a resume."""
    path = tmp_path / "gen.jsonl"
    s = Sampling(n=2, temperature=0.7)
    eng = scripted(lambda p, i: p)
    CachedEngine(eng, CompletionCache(path), chunk=4).generate([msgs(i) for i in range(2)], s)  # chunk [0, 1]
    eng2 = scripted(lambda p, i: p)
    CachedEngine(eng2, CompletionCache(path), chunk=4).generate([msgs(i) for i in range(5)], s)
    assert eng2.batches == [2, 1]  # chunks [2, 3] and [4]; [0, 1] is complete


def test_keys_separate_model_settings_and_index():
    s = Sampling(n=2, temperature=0.7, seed=1)
    base = completion_key("m@1", msgs(0), s, 0)
    assert base != completion_key("m@2", msgs(0), s, 0)
    assert base != completion_key("m@1", msgs(1), s, 0)
    assert base != completion_key("m@1", msgs(0), s, 1)
    assert base != completion_key("m@1", msgs(0), Sampling(n=2, temperature=0.7, seed=2), 0)
    assert base != completion_key("m@1", msgs(0), Sampling(n=2, temperature=0.8, seed=1), 0)
    # greedy ignores seed and sampling knobs
    assert completion_key("m", msgs(0), Sampling(seed=1), 0) == completion_key("m", msgs(0), Sampling(seed=2, top_p=0.5), 0)


def test_corrupt_lines_are_skipped_with_file_and_line(tmp_path):
    path = tmp_path / "gen.jsonl"
    cache = CompletionCache(path)
    cache.put_many([("k1", Completion("a", 1)), ("k2", Completion("b", 2)), ("k3", Completion("c", 3))])
    lines = path.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["text"] = "tampered"
    lines[1] = json.dumps(rec)
    lines[2] = lines[2][: len(lines[2]) // 2]  # truncated by a kill
    path.write_text("\n".join(lines + ["not json at all"]) + "\n")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        reread = CompletionCache(path)
    assert set(reread.records) == {"k1"} and reread.skipped == 3
    assert any(f"{path}:2" in str(x.message) for x in w) and any(f"{path}:3" in str(x.message) for x in w)


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 0}, "n=0"), ({"temperature": -0.1}, "temperature"), ({"top_p": 0}, "top_p"),
    ({"max_new_tokens": 0}, "max_new_tokens"), ({"n": 4, "temperature": 0.0}, "greedy"),
])
def test_sampling_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Sampling(**kwargs)


def test_rar_2step_counts_both_steps_and_uses_rephrasing(scripted):
    task = get_task("last_letter")
    seen = []

    def reply(prompt, i):
        seen.append(prompt)
        return "REPHRASED" if prompt.endswith("original question.") else f'The answer is "n{"abc"[i]}".'

    out = get_method("rar_2step").run(scripted(reply), task, ["Q?"], Sampling(n=3, temperature=0.7))
    assert out.answers == [["na", "nb", "nc"]]
    assert out.tokens == [[5 + 5, 5 + 6, 5 + 7]]  # greedy rephrase (5 tokens) + each answer
    assert "(original) Q?\n(rephrased) REPHRASED" in seen[-1] and task.final_format in seen[-1]


def test_rar_2step_sampled_rephrase(scripted):
    out = get_method("rar_2step", greedy_first=False).run(
        scripted(lambda p, i: f'The answer is "x{i}".'), get_task("last_letter"), ["Q1", "Q2"], Sampling(n=2, temperature=0.7))
    assert len(out.answers) == 2 and all(len(r) == 2 for r in out.answers)
    assert out.tokens == [[5 + 5, 6 + 5], [5 + 5, 6 + 5]]


def test_system1_and_rar1_prompts(scripted):
    task = get_task("coin_flip")
    seen = []
    eng = scripted(lambda p, i: seen.append(p) or "The answer is yes.")
    assert get_method("system1").run(eng, task, ["Q"], Sampling()).answers == [["yes"]]
    assert seen[-1] == f"Q\n{task.direct_suffix}"
    get_method("rar_1step").run(eng, task, ["Q"], Sampling())
    assert "Rephrase and expand the question, and respond." in seen[-1]


def test_unknown_method():
    with pytest.raises(ValueError, match=f"method='tot': allowed values are {', '.join(sorted(METHODS))}"):
        get_method("tot")


def test_interrupt_keeps_finished_chunks(tmp_path, scripted):
    """Ctrl-C in the middle of generation: chunks already written are never generated again."""
    path = tmp_path / "gen.jsonl"
    s = Sampling(n=2, temperature=0.7)

    class Interrupting:
        fingerprint = "scripted@0"

        def __init__(self):
            self.calls = 0

        def generate(self, prompts, sampling, desc=""):
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return [[Completion(m[-1]["content"], 1)] * sampling.n for m in prompts]

    with pytest.raises(KeyboardInterrupt):
        CachedEngine(Interrupting(), CompletionCache(path), chunk=4).generate([msgs(i) for i in range(8)], s)
    eng = scripted(lambda p, i: p)
    out = CachedEngine(eng, CompletionCache(path), chunk=4).generate([msgs(i) for i in range(8)], s)
    assert eng.batches == [2, 2]  # the two chunks finished before the interrupt were reused
    assert [row[0].text for row in out] == [f"question {i}" for i in range(8)]


def test_identical_prompts_generated_once(tmp_path, scripted):
    eng = scripted(lambda p, i: f"{p}/{i}")
    out = CachedEngine(eng, CompletionCache(tmp_path / "g.jsonl"), chunk=4).generate(
        [msgs(1), msgs(2), msgs(1), msgs(3), msgs(2)], Sampling(n=1, temperature=0.7))
    assert eng.generated == 3 and eng.batches == [3]
    assert [r[0].text for r in out] == ["question 1/0", "question 2/0", "question 1/0", "question 3/0", "question 2/0"]


def test_archive_chunks_carry_a_run_to_another_machine(tmp_path, scripted):
    """Each export writes only what the archive lacks; a run with an empty cache reads the chunks and regenerates
    nothing they hold; a damaged chunk line is skipped with its file and line."""
    import gzip

    arc, s = tmp_path / "archive", Sampling(n=2, temperature=0.7, seed=1)
    cache = CompletionCache(tmp_path / "a.jsonl", archive=arc)
    CachedEngine(scripted(lambda p, i: f"{p}/{i}"), cache, chunk=4).generate([msgs(i) for i in range(2)], s)
    first = cache.export()
    assert first is not None and cache.export() is None  # nothing new: no empty chunk
    CachedEngine(scripted(lambda p, i: f"{p}/{i}"), cache, chunk=4).generate([msgs(i) for i in range(4)], s)
    second = cache.export()
    lines = lambda p: gzip.open(p, "rt").read().splitlines()  # noqa: E731
    assert len(lines(first)) == 4 and len(lines(second)) == 4  # the second chunk holds only prompts 2 and 3

    eng = scripted(lambda p, i: "SHOULD NOT BE USED")
    fresh = CompletionCache(tmp_path / "elsewhere.jsonl", archive=arc)  # a new machine: no run file
    out = CachedEngine(eng, fresh, chunk=4).generate([msgs(i) for i in range(4)], s)
    assert eng.generated == 0 and fresh.reused == 8 and out[3][1].text.endswith("/1")

    kept = lines(second)[:3]
    with gzip.open(second, "wt") as f:
        f.write("\n".join(kept + ["garbled"]) + "\n")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        damaged = CompletionCache(tmp_path / "other.jsonl", archive=arc)
    assert len(damaged.records) == 7 and damaged.skipped == 1 and any(f"{second}:4" in str(x.message) for x in w)


def test_s2d_archive_keeps_the_session_log_and_refuses_restricted_data(tmp_path, capsys):
    from s2dlib.cli import main
    from s2dlib.config import ExperimentConfig
    from s2dlib.pipeline import Experiment, archive

    cfg = ExperimentConfig(task="last_letter", model="tiny-random", run_dir=str(tmp_path / "runs"),
                           data_dir=str(tmp_path / "data"))
    exp = Experiment(cfg, "unit")
    exp.cache.put_many([("k1", Completion("a", 1, 0.1)), ("k2", Completion("b", 1, 0.1))])
    a = archive(cfg, "unit")
    assert a["added"] == 2 and a["folder"] == tmp_path / "data" / "generations" / "custom" / "unit"
    assert archive(cfg, "unit")["added"] == 0
    import shutil
    shutil.rmtree(tmp_path / "runs")  # the machine is gone; the committed archive is not
    again = Experiment(cfg, "unit")
    assert set(again.cache.records) == {"k1", "k2"}
    again.cache.put_many([("k3", Completion("c", 1, 0.1))])
    log = json.loads((again.dir / "sessions.json").read_text())
    assert [e["completions_generated"] for e in log] == [2, 1]  # the archived session first: the run's cost adds up

    s2a = ExperimentConfig(task="sycophancy_qa", model="tiny-random", run_dir=str(tmp_path / "runs"),
                           data_dir=str(tmp_path / "data"))
    with pytest.raises(ValueError, match="red-trivia"):
        archive(s2a, "s2a")
    assert main(["archive", "--profile", "quick", "--only", "nope"]) == 2
    assert "--only ['nope']: allowed values are" in capsys.readouterr().err


def test_raising_a_greedy_cap_regenerates_only_the_cut_replies(tmp_path):
    """A greedy reply that ended before the old cap is reused under a larger one; only the cut ones are generated."""

    class Lengthy:  # reply length is the number in the prompt; the cap cuts it
        fingerprint = "lengthy@0"

        def __init__(self):
            self.prompts = []

        def generate(self, prompts, sampling, desc=""):
            self.prompts += [m[-1]["content"] for m in prompts]
            return [[Completion(f"{m[-1]['content']}@{sampling.max_new_tokens}",
                                min(int(m[-1]["content"].split()[-1]), sampling.max_new_tokens))] for m in prompts]

    path, prompts = tmp_path / "gen.jsonl", [msgs(n) for n in (3, 12, 7, 20)]
    eng = Lengthy()
    small = CachedEngine(eng, CompletionCache(path), chunk=4).generate(prompts, Sampling(max_new_tokens=10))
    assert [r[0].n_tokens for r in small] == [3, 10, 7, 10]
    eng, cache = Lengthy(), CompletionCache(path)
    large = CachedEngine(eng, cache, chunk=4).generate(prompts, Sampling(max_new_tokens=16))
    assert eng.prompts == ["question 12", "question 20"]  # the two cut at 10, nothing else
    assert [r[0].text for r in large] == ["question 3@10", "question 12@16", "question 7@10", "question 20@16"]
    assert (cache.added, cache.reused) == (2, 2)
    sampled = Lengthy()  # sampled replies are never carried across caps
    CachedEngine(sampled, CompletionCache(path), chunk=4).generate(prompts, Sampling(temperature=0.7, max_new_tokens=16))
    assert len(sampled.prompts) == 4


def test_missing_greedy_rows_are_regrouped_into_full_chunks(tmp_path):
    """Rows missing from several chunks are generated together, in length order, not as one small batch per chunk."""

    class Batches:
        fingerprint = "batches@0"

        def __init__(self):
            self.batches = []

        def generate(self, prompts, sampling, desc=""):
            self.batches.append([m[-1]["content"] for m in prompts])
            return [[Completion(m[-1]["content"], 1)] for m in prompts]

    path, prompts = tmp_path / "gen.jsonl", [msgs(n) for n in range(1, 7)]
    CachedEngine(Batches(), CompletionCache(path), chunk=2).generate(prompts[::2], Sampling(max_new_tokens=8))
    eng = Batches()
    out = CachedEngine(eng, CompletionCache(path), chunk=2).generate(prompts, Sampling(max_new_tokens=8))
    assert eng.batches == [["question 2", "question 4"], ["question 6"]]
    assert [r[0].text for r in out] == [f"question {n}" for n in range(1, 7)]
    sampling = Sampling(temperature=0.7, max_new_tokens=8)  # sampled chunks keep their positions (and seeds)
    CachedEngine(Batches(), CompletionCache(path), chunk=2).generate(prompts[::2], sampling)
    sampled = Batches()
    CachedEngine(sampled, CompletionCache(path), chunk=2).generate(prompts, sampling)
    assert sampled.batches == [["question 1", "question 2"], ["question 3", "question 4"], ["question 5", "question 6"]]
