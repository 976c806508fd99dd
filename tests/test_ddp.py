"""Distillation under torchrun: 2 CPU processes (gloo DDP) train the same adapter as 1 process."""
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


@pytest.mark.slow
def test_two_processes_train_like_one(tiny_model, tmp_path):
    task = get_task("last_letter")
    train, _ = task.make_splits(8, 0, seed=3)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"prompt": task.direct_prompt(e.question), "answer": task.format_target(e.answer)})
                             + "\n" for e in train))
    # Dropout off: each process draws its own masks, so only a dropout-free run can match exactly.
    args = ["-m", "s2dlib.distill", "--model", str(tiny_model), "--pairs", str(pairs), "--epochs", "2", "--batch-size", "4",
            "--lr", "1e-2", "--lora-r", "8", "--lora-alpha", "16", "--lora-dropout", "0", "--dtype", "float32"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    launch = {1: [sys.executable], 2: [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]}
    runs = {}
    for n, cmd in launch.items():
        out = tmp_path / f"adapter{n}"
        proc = subprocess.run([*cmd, *args, "--out", str(out)], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[n] = (json.loads((out / "s2d_train.json").read_text()), load_file(out / "adapter_model.safetensors"))
    (rec1, w1), (rec2, w2) = runs[1], runs[2]
    assert rec1["steps"] == rec2["steps"] == 4  # 8 pairs, global batch 4, 2 epochs
    assert rec2["losses"] == pytest.approx(rec1["losses"], rel=1e-3)
    assert w1.keys() == w2.keys()
    assert all(torch.allclose(w1[k], w2[k], atol=1e-4) for k in w1)
