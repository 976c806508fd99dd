"""The transformers backend and LoRA distillation on the tiny locally built model."""
import json

import pytest
import torch

from s2dlib.distill import (IGNORE, MALLOC_ENV, LoraSFTConfig, encode_pair, micro_batches, train_lora,
                            train_lora_isolated)
from s2dlib.engines.base import Sampling
from s2dlib.models import load_model
from s2dlib.tasks import get_task

from helpers import direct_prompts, hf_engine


@pytest.fixture(scope="module")
def engine(tiny_model):
    return hf_engine(tiny_model, batch_size=4)



@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (run on a GPU machine; CI has none)")
def test_on_a_gpu_without_vllm_the_hf_engine_decodes_on_the_gpu(engine):
    """engine=auto falls back to transformers on a GPU machine without vLLM: it must not decode on the CPU there."""
    from s2dlib.engines import resolve_engine
    from s2dlib.engines.vllm import available as vllm_available

    assert engine.model.device.type == "cuda"
    assert resolve_engine("auto") == ("vllm" if vllm_available() else "hf")
    out = engine.generate(direct_prompts(3), Sampling(max_new_tokens=8))
    assert [len(c) for c in out] == [1, 1, 1] and all(1 <= c[0].n_tokens <= 8 for c in out)


def test_greedy_is_deterministic_and_batch_independent(engine):
    ps = direct_prompts(5)
    batched = engine.generate(ps, Sampling(max_new_tokens=12))
    single = [engine.generate([p], Sampling(max_new_tokens=12))[0] for p in ps]
    assert [c[0].text for c in batched] == [c[0].text for c in single]
    assert all(1 <= c[0].n_tokens <= 12 for c in batched)


def test_sampling_n_and_seed(engine):
    ps = direct_prompts(2)
    s = Sampling(n=4, temperature=1.0, max_new_tokens=10, seed=7)
    a, b = engine.generate(ps, s), engine.generate(ps, s)
    assert [len(x) for x in a] == [4, 4]
    assert [[c.text for c in x] for x in a] == [[c.text for c in x] for x in b]
    other = engine.generate(ps, Sampling(n=4, temperature=1.0, max_new_tokens=10, seed=8))
    assert [[c.text for c in x] for x in other] != [[c.text for c in x] for x in a]


def test_token_counts(engine):
    capped = engine.generate(direct_prompts(1), Sampling(max_new_tokens=3))[0][0]
    assert capped.n_tokens == 3  # cut at the limit: every generated token counts
    free = engine.generate(direct_prompts(1), Sampling(max_new_tokens=40))[0][0]
    assert capped.n_tokens < free.n_tokens < 40 and free.text.startswith(capped.text)  # stopped by itself: text + end token


def test_encode_pair_masks_prompt(tiny_model):
    _, tok, _ = load_model(str(tiny_model), dtype="float32")
    enc = encode_pair(tok, "What is it?", 'The answer is "ab".', max_len=256)
    n_prompt = sum(label == IGNORE for label in enc["labels"])
    completion = tok.decode(enc["input_ids"][n_prompt:])
    assert completion.startswith('The answer is "ab".') and completion.rstrip().endswith("<|im_end|>")
    assert enc["labels"][n_prompt:] == enc["input_ids"][n_prompt:]
    assert "What is it?" in tok.decode(enc["input_ids"][:n_prompt])


def test_encode_pair_refuses_a_pair_longer_than_max_len(tiny_model):
    """A cut at max_len would drop the answer (the only tokens with a loss): a judge prompt of two responses is
    longer than 256 tokens, and the 2026-12-02 BSM run would have trained on 12 of 80 pairs without their verdict."""
    _, tok, _ = load_model(str(tiny_model), dtype="float32")
    prompt = "Which is better? " + "word " * 300
    n = len(encode_pair(tok, prompt, "[[A]]", max_len=4096)["input_ids"])
    assert n > 300 and encode_pair(tok, prompt, "[[A]]", max_len=n)["labels"][-3:] != [IGNORE] * 3
    with pytest.raises(ValueError, match=rf"^max_len={n - 1}: allowed values are >= the longest training pair; "
                                         rf"this pair is {n} tokens"):
        encode_pair(tok, prompt, "[[A]]", max_len=n - 1)


def test_lora_distillation_learns_targets_and_is_reused(tiny_model, tmp_path):
    task = get_task("last_letter")
    train, _ = task.make_splits(4, 0, seed=11)
    pairs = [(task.direct_prompt(e.question), task.format_target("zq")) for e in train]
    cfg = LoraSFTConfig(r=8, alpha=16, epochs=30, lr=1e-2, batch_size=4, dtype="float32")
    rec = train_lora(str(tiny_model), pairs, tmp_path / "adapter", cfg)
    assert rec["n_pairs"] == 4 and rec["losses"][-1] < 0.5 * rec["losses"][0] and rec["precision"] == "fp32"
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    assert json.loads((tmp_path / "adapter" / "s2d_train.json").read_text())["key"] == rec["key"]

    tuned = hf_engine(tiny_model, batch_size=16, adapter=tmp_path / "adapter")
    assert "+lora@" in tuned.fingerprint
    out = tuned.generate([[{"role": "user", "content": pairs[0][0]}]], Sampling(max_new_tokens=12))
    assert task.extract(out[0][0].text) == "zq"

    again = train_lora(str(tiny_model), pairs, tmp_path / "adapter", cfg)  # same run -> reused, not retrained
    assert again == rec


def test_killed_training_resumes_from_its_checkpoint_to_the_same_adapter(tiny_model, tmp_path, monkeypatch):
    """A run killed at step 4 (a session's end) resumes from the checkpoint of step 3 and ends where an uninterrupted
    run ends: same steps, losses and LoRA weights."""
    import s2dlib.distill as distill
    from safetensors.torch import load_file
    from transformers import Trainer

    task = get_task("last_letter")
    train, _ = task.make_splits(16, 0, seed=3)
    pairs = [(task.direct_prompt(e.question), task.format_target(e.answer)) for e in train]
    cfg = LoraSFTConfig(r=8, alpha=16, epochs=2, lr=1e-2, batch_size=4, dtype="float32")
    clean = train_lora(str(tiny_model), pairs, tmp_path / "clean", cfg)

    monkeypatch.setattr(distill, "CHECKPOINT_EVERY_S", 0.0)
    step, calls = Trainer.training_step, []

    def dies_at_step_4(self, *a, **kw):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return step(self, *a, **kw)

    monkeypatch.setattr(Trainer, "training_step", dies_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        train_lora(str(tiny_model), pairs, tmp_path / "killed", cfg)
    assert [c.name for c in (tmp_path / "killed.partial").glob("checkpoint-*")] == ["checkpoint-3"]
    monkeypatch.setattr(Trainer, "training_step", step)
    resumed = train_lora(str(tiny_model), pairs, tmp_path / "killed", cfg)

    assert resumed["resumed_from_step"] == 3 and clean["resumed_from_step"] is None
    assert resumed["steps"] == clean["steps"] == 8 and resumed["key"] == clean["key"]
    assert resumed["losses"] == pytest.approx(clean["losses"], rel=1e-4)
    a, b = (load_file(tmp_path / d / "adapter_model.safetensors") for d in ("clean", "killed"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert not (tmp_path / "killed.partial").exists() and not list((tmp_path / "killed").glob("checkpoint-*"))


def test_no_pairs_is_an_error(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="no training pairs"):
        train_lora(str(tiny_model), [], tmp_path / "a", LoraSFTConfig())


@pytest.mark.parametrize("gpu,bf16_units,expected", [(False, False, torch.float32), (False, True, torch.bfloat16),
                                                     (True, False, torch.bfloat16)])
def test_dtype_auto_follows_the_hardware(monkeypatch, gpu, bf16_units, expected):
    """auto: bf16 on a GPU or a CPU with bf16 units, fp32 on a CPU without them (where bf16 is ~4x slower)."""
    import s2dlib.models as models

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    monkeypatch.setattr(models, "cpu_has_bf16", lambda: bf16_units)
    assert models.compute_dtype("auto") == expected
    assert models.compute_dtype("float32") == torch.float32 and models.compute_dtype("bfloat16") == torch.bfloat16
    with pytest.raises(ValueError, match="dtype='half': allowed values are"):
        models.compute_dtype("half")


def test_shared_prefix_sampling_matches_plain_decoding(engine):
    """n samples decode from one prefill (KV cache copied n times); with top_k=1 they must equal greedy output."""
    ps = [[{"role": "user", "content": m[0]["content"] + " " * i}] for i, m in enumerate(direct_prompts(3))]  # unequal lengths
    greedy = engine.generate(ps, Sampling(max_new_tokens=16))
    shared = engine.generate(ps, Sampling(n=3, temperature=1.0, top_k=1, max_new_tokens=16))
    assert [[c.text for c in row] for row in shared] == [[g[0].text] * 3 for g in greedy]
    assert [[c.n_tokens for c in row] for row in shared] == [[g[0].n_tokens] * 3 for g in greedy]


@pytest.mark.parametrize("per_device, longest, expected", [(8, 80, (8, 1)), (8, 395, (2, 4)), (8, 176, (4, 2)),
                                                            (8, 5000, (1, 8)), (6, 300, (3, 2))])
def test_long_pairs_train_in_micro_batches_of_the_same_global_batch(per_device, longest, expected):
    micro, accum = micro_batches(per_device, longest, budget=1024)
    assert (micro, accum) == expected and micro * accum == per_device


def test_the_training_child_gets_a_fixed_malloc_threshold_that_the_caller_can_override(tiny_model, tmp_path, monkeypatch):
    seen = {}

    def child(cmd, check, env):  # stands in for the training process: records its environment, writes its record
        seen.update(env)
        out = tmp_path / "adapter"
        out.mkdir()
        (out / "s2d_train.json").write_text(json.dumps({"steps": 1}))

    monkeypatch.setattr("subprocess.run", child)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "999")
    assert train_lora_isolated(str(tiny_model), [("q", "a")], tmp_path / "adapter", LoraSFTConfig()) == {"steps": 1}
    assert seen["MALLOC_MMAP_THRESHOLD_"] == MALLOC_ENV["MALLOC_MMAP_THRESHOLD_"]
    assert seen["MALLOC_TRIM_THRESHOLD_"] == "999" and seen["PATH"]
