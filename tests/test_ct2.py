"""CTranslate2 int8 backend vs the transformers backend on the tiny model: same token ids, same answers, LoRA served."""
import pytest

pytest.importorskip("ctranslate2")

from s2dlib.config import ExperimentConfig  # noqa: E402
from s2dlib.distill import LoraSFTConfig, train_lora  # noqa: E402
from s2dlib.engines import make_engine, resolve_engine  # noqa: E402
from s2dlib.engines.base import Sampling  # noqa: E402
from s2dlib.engines.ct2 import CT2Engine  # noqa: E402
from helpers import direct_prompts, hf_engine  # noqa: E402



@pytest.fixture(scope="module")
def engines(tiny_model):
    return hf_engine(tiny_model), CT2Engine(str(tiny_model), batch_size=8)


def test_greedy_agrees_with_transformers(engines):
    """int8 weights change some logits, so exact text parity is not promised; on the tiny model nearly all agree."""
    hf, ct = engines
    ps = direct_prompts(16)
    s = Sampling(max_new_tokens=16)
    a, b = hf.generate(ps, s), ct.generate(ps, s)
    same = sum(x[0].text == y[0].text for x, y in zip(a, b))
    print(f"greedy agreement CTranslate2 int8 vs transformers fp32: {same}/{len(ps)}")
    assert same >= 12
    first = [x[0].text.split()[:1] == y[0].text.split()[:1] for x, y in zip(a, b)]
    assert sum(first) >= 14
    assert ct.fingerprint.endswith(":int8+ct2") and ct.fingerprint.split(":")[0] == hf.fingerprint.split(":")[0]


def test_token_count_includes_the_end_token_and_respects_the_cap(engines):
    _, ct = engines
    capped = ct.generate(direct_prompts(1), Sampling(max_new_tokens=3))[0][0]
    assert capped.n_tokens == 3
    ids = ct.tok(capped.text, add_special_tokens=False)["input_ids"]
    assert len(ids) <= 3
    hf, _ = engines
    long = Sampling(max_new_tokens=60)
    for x, y in zip(hf.generate(direct_prompts(6), long), ct.generate(direct_prompts(6), long)):
        if x[0].text == y[0].text:  # same text: same count, the end token included when the reply ended
            assert x[0].n_tokens == y[0].n_tokens


def test_sampling_is_seeded_by_the_batch_and_n_samples_differ(engines):
    _, ct = engines
    ps = direct_prompts(3)
    s = Sampling(n=4, temperature=1.0, max_new_tokens=10, seed=3)
    out = ct.generate(ps, s)
    assert [len(r) for r in out] == [4, 4, 4]
    assert len({c.text for c in out[0]}) > 1  # samples of one prompt differ
    other = ct.generate(ps, Sampling(n=4, temperature=1.0, max_new_tokens=10, seed=4))
    assert [c.text for r in out for c in r] != [c.text for r in other for c in r]


def test_samples_are_hypotheses_of_one_row_in_seeded_shuffled_order(engines, monkeypatch):
    """A prompt is one row with n hypotheses (its prefill shared); CTranslate2 sorts them by score, so the engine
    shuffles them, reproducibly: sample 1 (maj@1) must not always be the likeliest."""
    from types import SimpleNamespace

    _, ct = engines
    calls = []

    def fake_generate_batch(rows, num_hypotheses=1, **kw):
        calls.append((len(rows), num_hypotheses))
        word = ct.tok("a", add_special_tokens=False)["input_ids"][0]
        return [SimpleNamespace(sequences_ids=[[word] * (h + 1) for h in range(num_hypotheses)]) for _ in rows]

    monkeypatch.setattr(ct, "generator", SimpleNamespace(generate_batch=fake_generate_batch))
    s = Sampling(n=4, temperature=1.0, max_new_tokens=10, seed=3)
    out = ct.generate(direct_prompts(8), s)
    assert calls and all(n == 4 for _, n in calls) and sum(r for r, _ in calls) == 8  # 8 rows, not 32
    lengths = [[c.n_tokens for c in r] for r in out]
    assert all(sorted(ls) == [1, 2, 3, 4] for ls in lengths)  # every hypothesis once
    assert len({ls[0] for ls in lengths}) > 1  # the first sample is not always hypothesis 1 (the likeliest)
    assert [[c.n_tokens for c in r] for r in ct.generate(direct_prompts(8), s)] == lengths  # same seed, same order
    calls.clear()
    ct.generate(direct_prompts(2), Sampling(max_new_tokens=5))
    assert calls == [(2, 1)]  # greedy: one row per prompt, no hypotheses


def test_stop_strings_end_the_completion(engines):
    _, ct = engines
    free = ct.generate(direct_prompts(2), Sampling(max_new_tokens=30))
    word = free[0][0].text.split()[1] if len(free[0][0].text.split()) > 1 else None
    if word is None:
        pytest.skip("tiny model reply too short to cut")
    cut = ct.generate(direct_prompts(2), Sampling(max_new_tokens=30, stop=(word,)))[0][0]
    assert word not in cut.text and cut.n_tokens < free[0][0].n_tokens


def test_lora_adapter_is_merged_and_served(engines, tiny_model, tmp_path):
    hf, ct = engines
    pairs = [(p[0]["content"], "The answer is \"zz\".") for p in direct_prompts(8, seed=1)]
    train_lora(str(tiny_model), pairs, tmp_path / "ad", LoraSFTConfig(epochs=8, lr=5e-3, batch_size=4))
    tuned = CT2Engine(str(tiny_model), adapter=tmp_path / "ad", batch_size=8)
    assert tuned.fingerprint.startswith(ct.fingerprint + "+lora@")
    ref = hf_engine(tiny_model, adapter=tmp_path / "ad")
    s = Sampling(max_new_tokens=12)
    a, b = ref.generate(direct_prompts(8), s), tuned.generate(direct_prompts(8), s)
    assert sum(x[0].text == y[0].text for x, y in zip(a, b)) >= 6
    assert [y[0].text for y in b] != [y[0].text for y in ct.generate(direct_prompts(8), s)]  # the adapter changed answers
    again = CT2Engine(str(tiny_model), adapter=tmp_path / "ad", batch_size=8)  # converted once, reused
    assert again.fingerprint == tuned.fingerprint


@pytest.mark.parametrize("bf16_units", [False, True])
def test_auto_picks_ct2_on_a_cpu_even_where_vllm_is_installed(monkeypatch, bf16_units):
    import torch

    import s2dlib.engines.vllm as vllm_backend
    import s2dlib.models as models

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(models, "cpu_has_bf16", lambda: bf16_units)
    monkeypatch.setattr(vllm_backend, "available", lambda: True)  # faster at System 2 there, far slower at adapters
    assert resolve_engine("auto") == "ct2"
    cfg = ExperimentConfig.from_params({"model": "tiny-random", "engine": "ct2"})
    assert isinstance(make_engine(cfg), CT2Engine)
