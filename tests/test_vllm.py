"""vLLM backend vs the transformers backend on the tiny model (runs only where vllm is installed)."""
import os

import pytest

pytest.importorskip("vllm")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; the default (4) is more than a test needs
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # engine in this process: no spawn under pytest

from s2dlib.distill import LoraSFTConfig, train_lora  # noqa: E402
from s2dlib.engines import vllm  # noqa: E402
from s2dlib.engines.base import Sampling  # noqa: E402
from s2dlib.engines.vllm import VLLMEngine  # noqa: E402
from s2dlib.tasks import get_task  # noqa: E402
from helpers import direct_prompts, hf_engine  # noqa: E402



@pytest.fixture(scope="module")
def engines(tiny_model):
    return hf_engine(tiny_model), VLLMEngine(str(tiny_model), dtype="float32")


def test_greedy_parity_with_transformers(engines):
    hf, vl = engines
    ps = direct_prompts(16)
    s = Sampling(max_new_tokens=24)
    a, b = hf.generate(ps, s), vl.generate(ps, s)
    same = [x[0].text == y[0].text for x, y in zip(a, b)]
    print(f"greedy agreement vLLM vs transformers: {sum(same)}/{len(same)}")
    assert all(same)
    assert [x[0].n_tokens for x in a] == [y[0].n_tokens for y in b]  # end token counted the same way
    assert vl.fingerprint == hf.fingerprint + "+vllm"


def test_samples_are_seeded_per_prompt(engines):
    _, vl = engines
    ps = direct_prompts(6)
    s = Sampling(n=4, temperature=1.0, max_new_tokens=10, seed=7)
    together = vl.generate(ps, s)
    alone = [vl.generate([p], s)[0] for p in ps[:2]]
    assert [[c.text for c in x] for x in together[:2]] == [[c.text for c in x] for x in alone]
    assert len({c.text for c in together[0]}) > 1  # the n samples differ from each other
    other = vl.generate(ps, Sampling(n=4, temperature=1.0, max_new_tokens=10, seed=8))
    assert [[c.text for c in x] for x in other] != [[c.text for c in x] for x in together]


def test_sampling_more_prompt_tokens_than_one_step_holds(engines):
    """On CPU a seeded request prefilled in chunks killed the engine; prompts now wait for a step that holds them."""
    _, vl = engines
    budget = vl.llm.llm_engine.vllm_config.scheduler_config.max_num_batched_tokens
    ps = direct_prompts(4 * budget // 30)  # ~30 tokens each: several steps' worth
    s = Sampling(n=2, temperature=1.0, max_new_tokens=4, seed=3)
    together = vl.generate(ps, s)
    assert [c.text for c in together[-1]] == [c.text for c in vl.generate(ps[-1:], s)[0]]


def test_lora_adapter_matches_merged_weights(engines, tiny_model, tmp_path):
    task = get_task("last_letter")
    train, _ = task.make_splits(4, 0, seed=11)
    pairs = [(task.direct_prompt(e.question), task.format_target("zq")) for e in train]
    train_lora(str(tiny_model), pairs, tmp_path / "adapter", LoraSFTConfig(r=8, alpha=16, epochs=30, lr=1e-2, dtype="float32"))
    ps = [[{"role": "user", "content": p}] for p, _ in pairs]
    reference = hf_engine(tiny_model, adapter=tmp_path / "adapter")
    merged = reference.generate(ps, Sampling(max_new_tokens=12))
    fp = reference.fingerprint
    lora = VLLMEngine(str(tiny_model), dtype="float32", adapter=tmp_path / "adapter")
    served = lora.generate(ps, Sampling(max_new_tokens=12))
    assert engines[1].llm.llm_engine.vllm_config.lora_config is None  # the base model runs without LoRA layers
    # on a CPU the adapter is merged into a plain model; a second engine for it reuses the loaded one
    assert lora.lora is None and lora.llm.llm_engine.vllm_config.lora_config is None
    assert VLLMEngine(str(tiny_model), dtype="float32", adapter=tmp_path / "adapter").llm is lora.llm
    assert lora.fingerprint == engines[1].fingerprint + fp[fp.index("+lora@"):]
    assert [c[0].text for c in served] == [c[0].text for c in merged]
    assert task.extract(served[0][0].text) == "zq"
    merged_dirs = list(vllm._merged_root().iterdir())
    assert len(merged_dirs) == 1 and merged_dirs[0].name.endswith(f".{os.getpid()}")
    vllm.release()  # the merged weights go with the model that held them
    assert not any(vllm._merged_root().iterdir())


def test_release_frees_the_model_for_training(tiny_model):
    old = VLLMEngine(str(tiny_model), dtype="float32")
    before = [c[0].text for c in old.generate(direct_prompts(3), Sampling(max_new_tokens=8))]
    vllm.release()  # what the pipeline does before LoRA training
    assert not vllm._LLM
    fresh = VLLMEngine(str(tiny_model), dtype="float32")
    assert fresh.llm is not old.llm
    assert [c[0].text for c in fresh.generate(direct_prompts(3), Sampling(max_new_tokens=8))] == before
