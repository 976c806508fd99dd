"""Distillation under torchrun: 2 CPU processes (gloo DDP, or FSDP2 sharding) train the same adapter as 1 process."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from s2dlib.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    """train(n, *flags): one run per setting for the whole module (each is a torchrun launch of several seconds)."""
    runs = {}

    def train(n: int, *extra: str):
        if (n, extra) not in runs:
            runs[n, extra] = _train(tiny_model, tmp_path_factory.mktemp("ddp"), n, *extra)
        return runs[n, extra]

    return train


def _train(tiny_model, tmp_path, n: int, *extra: str) -> tuple[dict, dict]:
    """Train on 8 last-letter pairs with n processes (torchrun for n > 1); returns (record, adapter weights)."""
    task = get_task("last_letter")
    train, _ = task.make_splits(8, 0, seed=3)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"prompt": task.direct_prompt(e.question), "answer": task.format_target(e.answer)})
                             + "\n" for e in train))
    # Dropout off: each process draws its own masks, so only a dropout-free run can match exactly.
    args = ["-m", "s2dlib.distill", "--model", str(tiny_model), "--pairs", str(pairs), "--epochs", "2", "--batch-size", "4",
            "--lr", "1e-2", "--lora-r", "8", "--lora-alpha", "16", "--lora-dropout", "0", "--dtype", "float32", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    launch = [sys.executable] + (["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n)] if n > 1 else [])
    out = tmp_path / f"adapter{n}{''.join(extra)}"
    proc = subprocess.run([*launch, *args, "--out", str(out)], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "s2d_train.json").read_text()), load_file(out / "adapter_model.safetensors")


def _same(run1, run2) -> None:
    (rec1, w1), (rec2, w2) = run1, run2
    assert rec1["steps"] == rec2["steps"] == 4  # 8 pairs, global batch 4, 2 epochs
    assert rec2["losses"] == pytest.approx(rec1["losses"], rel=1e-3)
    assert w1.keys() == w2.keys()
    assert all(torch.allclose(w1[k], w2[k], atol=1e-4) for k in w1)


@pytest.mark.slow
def test_two_processes_train_like_one(trained):
    _same(trained(1), trained(2))


@pytest.mark.slow
def test_sharded_training_matches_one_process(trained):
    """FSDP2 over 2 gloo processes (each holds half of every weight) trains the adapter one process trains, in the
    same adapter format, and it learns: the loss falls."""
    one, two = trained(1, "--sharding", "fsdp"), trained(2, "--sharding", "fsdp")
    _same(one, two)
    assert two[0]["losses"][-1] < two[0]["losses"][0]
    assert one[1].keys() == trained(1)[1].keys()  # the Trainer path's adapter format


def test_qlora_needs_a_gpu():
    from s2dlib.distill import LoraSFTConfig, check_hardware

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: QLoRA may run here")
    with pytest.raises(ValueError, match=r"^quantize='4bit': allowed values are none on a machine without a CUDA GPU"):
        check_hardware(LoraSFTConfig(quantize="4bit"))
    with pytest.raises(ValueError, match=r"^sharding='x': allowed values are none, fsdp$"):
        LoraSFTConfig(sharding="x")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="QLoRA's 4-bit base weights need a CUDA GPU (bitsandbytes)")
def test_qlora_trains_an_adapter_in_the_usual_format(tiny_model, tmp_path):
    rec, weights = _train(tiny_model, tmp_path, 1, "--quantize", "4bit", "--gradient-checkpointing", "true")
    assert rec["model"].endswith("+nf4") and rec["steps"] == 4 and weights
