"""The diagnostic scripts under benchmarks/ run end to end on the tiny model and record what they print."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_ceiling_curve_trains_each_size_and_records_its_rows(tmp_path, tiny_model):
    out = tmp_path / "ceiling.json"
    cmd = [sys.executable, "benchmarks/ceiling_curve.py", "--model", "tiny-random", "--profile", "smoke", "--n-train", "6",
           "--n-test", "6", "--sizes", "3", "--json", str(out), "--set", f"run_dir={tmp_path / 'runs'}",
           f"data_dir={tmp_path / 'data'}"]
    done = subprocess.run(cmd, cwd=REPO, env=os.environ, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rec = json.loads(out.read_text())
    assert [p["n_pairs"] for p in rec["curve"]] == [3, 6]  # the nested subset, then all labelled inputs
    gold = next(r for r in rec["rows"] if r["system"].startswith("Distill gold"))
    assert rec["curve"][-1]["accuracy"] == gold["accuracy"] and gold["n"] == 6
    assert [t["n_pairs"] for t in rec["trainings"] if t["status"] == "trained"] == [6, 3]
    assert rec["provenance"]["n_train"] == 6 and "gold-label ceiling by training pairs" in done.stdout
    again = subprocess.run(cmd[: cmd.index("--sizes")] + cmd[cmd.index("--sizes") + 2 :], cwd=REPO, env=os.environ,
                           capture_output=True, text=True, timeout=600)  # no smaller sizes: the adapter is reused
    assert again.returncode == 0, again.stderr[-2000:]
    assert [p["n_pairs"] for p in json.loads(out.read_text())["curve"]] == [6]  # the curve is its last point


def test_ceiling_curve_runs_a_judge_from_its_notebook_block(tmp_path, tiny_model):
    """A judge's ceiling: the bsm_judge block of the profile applies (swap filter, its verdict cap), n counts pairs
    (both orders scored) and the metric printed is agreement."""
    out = tmp_path / "judge.json"
    cmd = [sys.executable, "benchmarks/ceiling_curve.py", "--model", "tiny-random", "--profile", "smoke", "--notebook",
           "bsm_judge", "--task", "pairwise_judge", "--n-train", "4", "--n-test", "3", "--json", str(out), "--set",
           f"run_dir={tmp_path / 'runs'}", f"data_dir={tmp_path / 'data'}"]
    done = subprocess.run(cmd, cwd=REPO, env=os.environ, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rec = json.loads(out.read_text())
    assert rec["config"]["filter"] == "swap_consistency" and rec["config"]["max_new_tokens_direct"] == 6
    assert [r["n"] for r in rec["rows"]] == [6, 6] and "agreement" in rec["rows"][1]
    assert rec["curve"][-1]["n_pairs"] == 0  # the tiny model's training pairs are two wrong answers: no label known
    assert "agreement" in done.stdout and set(rec["bias"]) == {r["system"] for r in rec["rows"]}
    assert all(b["verdict A %"] + b["verdict B %"] + b["tie %"] + b["no verdict %"] == pytest.approx(100) for b in rec["bias"].values())


def test_ceiling_curve_refuses_a_bad_value_before_any_model_loads(tmp_path):
    cmd = [sys.executable, "benchmarks/ceiling_curve.py", "--n-train", "0", "--json", str(tmp_path / "x.json")]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr == "ceiling_curve: error: n_train=0: allowed values are integers >= 1\n"
    assert not (tmp_path / "x.json").exists()
    cmd = [sys.executable, "benchmarks/ceiling_curve.py", "--notebook", "bsm", "--json", str(tmp_path / "x.json")]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.startswith("ceiling_curve: error: --notebook 'bsm': allowed values are ")
    assert "bsm_judge" in done.stderr and not (tmp_path / "x.json").exists()


def test_adapter_serving_answers_every_test_question_in_chunks(tmp_path, tiny_model):
    from s2dlib.distill import LoraSFTConfig, train_lora
    from s2dlib.tasks import get_task
    from s2dlib.tasks.base import save_examples

    task = get_task("last_letter")
    train, test = task.make_splits(4, 5, seed=1)
    adapter = tmp_path / "adapter"
    train_lora("tiny-random", [(task.direct_prompt(e.question), task.format_target(e.answer)) for e in train], adapter,
               LoraSFTConfig(epochs=1, batch_size=4, r=8, alpha=16, dtype="float32"))
    save_examples(test, tmp_path / "test.jsonl")
    cmd = [sys.executable, "benchmarks/adapter_serving.py", "--engine", "hf", "--model", "tiny-random", "--adapter",
           str(adapter), "--test", str(tmp_path / "test.jsonl"), "--chunk", "2", "--max-new-tokens", "4"]
    done = subprocess.run(cmd, cwd=REPO, env=os.environ, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["answered"] for r in lines[:-1]] == [2, 4, 5]
    final = lines[-1]
    assert final["n"] == 5 and "+lora@" in final["fingerprint"] and 0 <= final["accuracy"] <= 100
    assert 1 <= final["tokens_per_input"] <= 4 and "flags" in final["cpu"]


def test_ct2_pages_measures_one_batch_per_mode_and_records_the_mode(tmp_path, tiny_model):
    pytest.importorskip("ctranslate2")
    from s2dlib.provenance import transparent_hugepage

    out = tmp_path / "pages.json"
    cmd = [sys.executable, "benchmarks/ct2_pages.py", "--model", str(tiny_model), "--thp", "current", "--rows", "3",
           "--prompt-tokens", "20", "--new-tokens", "5", "--json", str(out)]
    done = subprocess.run(cmd, cwd=REPO, env=os.environ, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rec = json.loads(out.read_text())
    (row,) = rec["results"]
    assert row["tokens"] == 15 and row["thp"] == transparent_hugepage() and row["wall_s"] > 0  # 3 rows x 5 tokens
    assert "flags" in rec["cpu"] and f"THP {row['thp']}: " in done.stdout


def test_ct2_pages_refuses_a_bad_size_before_any_model_loads(tmp_path):
    cmd = [sys.executable, "benchmarks/ct2_pages.py", "--rows", "0"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr == "ct2_pages: error: rows=0: allowed values are integers >= 1\n"
