"""Crash-safe resume, deterministic reruns, cache integrity, bad input, failure isolation, disk guard."""
import json
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import psutil
import pytest
import yaml

from s2dlib import cli, config, models
from s2dlib.config import profile_names
from s2dlib.tasks import TASKS
from s2dlib.cache import CachedEngine, CompletionCache, completion_key
from s2dlib.engines.base import Completion, Sampling

# Small enough to be quick, with enough chunks (batch_size rows each) that a kill lands mid-generation; the plain path
# (no recipe search, learning curve or dev split: the smoke run of test_notebooks executes those once).
RUN_SET = ["n_train=10", "n_test=6", "n_samples=3", "batch_size=6", "max_new_tokens=24", "n_val=0", "lr_grid=[]",
           "learning_curve=[]", "n_dev=0"]
VOLATILE = {"wall_s_per_input", "train_seconds", "adapter"}


def smoke_cmd(tmp: Path, reports: str, seed: int = 0) -> list[str]:
    return [sys.executable, "-m", "s2dlib.cli", "run", "--profile", "smoke", "--only", "rar_last_letter",
            "--reports", str(tmp / reports), "--set", f"run_dir={tmp / 'runs'}", f"data_dir={tmp / 'data'}",
            # transformers: fresh generations repeat bit for bit across processes, so a resumed run must equal an
            # uninterrupted one; CTranslate2's threaded int8 kernels do not promise that (README, Determinism)
            f"seed={seed}", "engine=hf", *RUN_SET]


def stable(metrics: dict) -> dict:
    """The recorded results without wall-clock fields and paths."""
    strip = lambda rows: [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]  # noqa: E731
    return {"rows": strip(metrics["rows"]), "filters": strip(metrics["filters"]), "trainings": strip(metrics["trainings"])}


def valid_lines(path: Path) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return len(CompletionCache(path).records)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, s2d_cache):
    """An uninterrupted smoke run (seed 0) in its own run dir."""
    tmp = tmp_path_factory.mktemp("baseline")
    subprocess.run(smoke_cmd(tmp, "reports"), check=True, capture_output=True)
    return tmp


def test_sigkill_during_generation_then_resume(baseline, tmp_path):
    gen = tmp_path / "runs" / "smoke" / "rar_last_letter" / "generations.jsonl"
    proc = subprocess.Popen(smoke_cmd(tmp_path, "reports"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while (not gen.exists() or valid_lines(gen) < 20) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    victims = psutil.Process(proc.pid).children(recursive=True) + [psutil.Process(proc.pid)]
    for p in victims:  # the runner and its papermill kernel, as a kill -9 of the whole job would
        p.kill()
    psutil.wait_procs(victims, timeout=30)
    total = len(json.loads((baseline / "reports" / "rar_last_letter.metrics.json").read_text())["rows"])
    assert total and gen.exists()
    finished = valid_lines(gen)
    assert 20 <= finished
    assert not (tmp_path / "reports" / "rar_last_letter.metrics.json").exists(), "the kill came too late to test anything"

    subprocess.run(smoke_cmd(tmp_path, "reports"), check=True, capture_output=True)
    resumed = json.loads((tmp_path / "reports" / "rar_last_letter.metrics.json").read_text())
    full = json.loads((baseline / "reports" / "rar_last_letter.metrics.json").read_text())
    done = resumed["provenance"]["completions"]
    # (a) nothing that had been written was generated again: the rerun made exactly the missing completions
    assert done["generated"] == valid_lines(gen) - finished
    assert done["reused"] >= finished
    # (b) the same results as the uninterrupted run
    assert stable(resumed) == stable(full)
    # (c) the killed session still counts in the run's cost: logged up to its last stored chunk
    killed, last = resumed["provenance"]["sessions"]
    assert "generate" in killed["stage_s"] and "evaluate" not in killed["stage_s"] and "evaluate" in last["stage_s"]
    assert 0 < killed["completions_generated"] <= finished
    assert resumed["provenance"]["sessions_wall_s"] == round(killed["wall_s"] + last["wall_s"], 1)


def test_same_seed_same_results_and_data(baseline, tmp_path):
    subprocess.run(smoke_cmd(tmp_path, "reports"), check=True, capture_output=True)
    a = json.loads((baseline / "reports" / "rar_last_letter.metrics.json").read_text())
    b = json.loads((tmp_path / "reports" / "rar_last_letter.metrics.json").read_text())
    assert stable(a) == stable(b)
    for split in ("train.jsonl", "test.jsonl"):
        rel = Path("last_letter") / "k2-seed0-train10-test6" / split
        assert (baseline / "data" / rel).read_bytes() == (tmp_path / "data" / rel).read_bytes()
    texts = lambda root: sorted(json.loads(l)["text"] for l in (root / "runs/smoke/rar_last_letter/generations.jsonl").open())  # noqa: E731
    assert texts(baseline) == texts(tmp_path)


def test_other_seed_changes_samples(tiny_model):
    from s2dlib.engines.hf import HFEngine

    model, tok, fp = models.load_model(str(tiny_model), dtype="float32")
    eng = HFEngine(model, tok, fp)
    p = [[{"role": "user", "content": 'Take the last letters of the words in "Ann Lee" and concatenate them.'}]]
    draw = lambda seed: [c.text for c in eng.generate(p, Sampling(n=6, temperature=1.5, max_new_tokens=12, seed=seed))[0]]  # noqa: E731
    assert draw(0) == draw(0) and draw(0) != draw(1)


def test_foreign_records_never_count(tmp_path, scripted):
    path = tmp_path / "gen.jsonl"
    s = Sampling()
    msgs = [{"role": "user", "content": "q"}]
    other = CompletionCache(path)
    other.put_many([(completion_key("other-model@1", msgs, s, 0), Completion("foreign", 1))])
    eng = scripted(lambda p, i: "ours")
    out = CachedEngine(eng, CompletionCache(path)).generate([msgs], s)
    assert out[0][0].text == "ours" and eng.generated == 1


def write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture
def guarded(tmp_path):
    """A reports dir and a cache file whose bytes must survive any rejected run."""
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "keep.html").write_text("previous report")
    cache = tmp_path / "runs" / "smoke" / "rar_last_letter" / "generations.jsonl"
    cache.parent.mkdir(parents=True)
    CompletionCache(cache).put_many([("k", Completion("x", 1))])
    return tmp_path, {p: p.read_bytes() for p in (reports / "keep.html", cache)}


def bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    # numeric answers: a question/answer file every such task reads (gsm8k accepts numbers only); bsm_judge reads
    # judge-pair formats instead, so the file cases run the question/answer notebooks only
    qa = ["--only", "cot_gsm8k", "rar_coin_flip", "rar_last_letter"]
    good = write(tmp / "good.jsonl", [{"question": f"q{i}", "answer": "1"} for i in range(3)])
    malformed = tmp / "malformed.jsonl"
    malformed.write_text('{"question": "q1", "answer": "a"}\n{"question": "q2", "answer"\n')
    no_answer = write(tmp / "noanswer.jsonl", [{"question": "q1", "answer": "a"}, {"question": "q2"}])
    overlap = write(tmp / "overlap.jsonl", [{"question": "q1", "answer": "1"}])
    return [
        (["--set", "model=gpt-17"], "model='gpt-17': allowed values are"),
        (["--set", "task=chess"], f"task='chess': allowed values are {', '.join(sorted(TASKS))}"),
        (["--set", "engine=tgi"], "engine='tgi': allowed values are"),
        (["--profile", "huge"], f"profile='huge': allowed values are {', '.join(profile_names())}"),
        (["--profile", "table1", "--only", "bsm_judge"], "--only 'bsm_judge': profile 'table1' covers only rar_last_letter, rar_coin_flip"),
        (["--profile", "typo"], "profile 'typo' has parameters for notebook 'rar_lastletter': allowed values are bsm_judge, "),
        (["--set", "n_train=0"], "n_train=0: allowed values are integers >= 1"),
        (["--set", "n_test=-5"], "n_test=-5: allowed values are integers >= 1"),
        (["--set", "n_samples=1000"], "n_samples=1000: allowed values are 1 to 64"),
        (["--set", "temperature=9"], "temperature=9: allowed values are 0 (greedy) to 2"),
        (["--set", "no_such_param=1"], "unknown parameter 'no_such_param'"),
        ([*qa, "--set", f"train_file={tmp / 'missing.jsonl'}", f"test_file={good}"], "train_file="),
        ([*qa, "--set", f"train_file={good}"], "test_file=None: allowed values are a JSONL/CSV file when the other split is given"),
        ([*qa, "--set", f"train_file={malformed}", f"test_file={good}"], "malformed.jsonl' line 2 is malformed JSON"),
        ([*qa, "--set", f"train_file={no_answer}", f"test_file={good}"], "noanswer.jsonl' row 2: needs non-empty 'question' and 'answer'"),
        ([*qa, "--set", f"train_file={overlap}", f"test_file={good}"], "train_file/test_file: 1 question(s) appear in both train and test"),
        (["--only", "bsm_judge", "--set", f"train_file={good}", f"test_file={good}"],
         "good.jsonl': allowed formats are OASST2 messages/trees JSONL and MT-bench human judgments"),
    ]


def test_bad_input_fails_fast_with_one_line_and_touches_nothing(guarded, monkeypatch, capsys):
    tmp, before = guarded

    def no_model(*a, **k):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(models, "load_model", no_model)
    monkeypatch.setattr(models, "resolve_model", no_model)
    # every shipped profile covers all notebooks; a user's profile may name the ones it covers (here Table 1 only),
    # and a parameter block for a notebook that does not exist is refused
    profiles = tmp / "profiles"
    shutil.copytree(config.PROFILES_DIR, profiles)
    (profiles / "table1.yaml").write_text("covers: [rar_last_letter, rar_coin_flip]\n")
    (profiles / "typo.yaml").write_text("notebooks:\n  rar_lastletter: {n_test: 50}\n")
    monkeypatch.setattr(config, "PROFILES_DIR", profiles)
    for argv, message in bad_inputs(tmp):
        profile = [] if "--profile" in argv else ["--profile", "smoke"]
        t0 = time.time()
        rc = cli.main(["run", *profile, *argv, "--reports", str(tmp / "reports"), "--set", f"run_dir={tmp / 'runs'}"]
                      if "--set" not in argv else
                      ["run", *profile, *argv, f"run_dir={tmp / 'runs'}", "--reports", str(tmp / "reports")])
        err = capsys.readouterr().err.strip()
        assert rc == 2, argv
        assert err.startswith("s2d: error:") and message in err and "\n" not in err, (argv, err)
        assert time.time() - t0 < 5
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in (tmp / "reports").iterdir()) == ["keep.html"]


def test_failing_notebook_is_isolated(tmp_path, monkeypatch):
    import nbformat

    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    for name in ("rar_coin_flip", "rar_last_letter"):  # one failing and one healthy notebook show the isolation
        shutil.copy(cli.NOTEBOOK_DIR / f"{name}.ipynb", nb_dir)
    broken = nbformat.read(nb_dir / "rar_coin_flip.ipynb", as_version=4)
    broken.cells.insert(3, nbformat.v4.new_code_cell('raise RuntimeError("deliberate failure for the test")'))
    nbformat.write(broken, nb_dir / "rar_coin_flip.ipynb")
    monkeypatch.setattr(cli, "NOTEBOOK_DIR", nb_dir)
    profiles = tmp_path / "profiles"  # the smoke profile's blocks for these two notebooks (a block for a missing one is refused)
    profiles.mkdir()
    smoke = yaml.safe_load((config.PROFILES_DIR / "smoke.yaml").read_text())
    smoke["notebooks"] = {k: v for k, v in smoke["notebooks"].items() if k in ("rar_coin_flip", "rar_last_letter")}
    (profiles / "smoke.yaml").write_text(yaml.safe_dump(smoke))
    monkeypatch.setattr(config, "PROFILES_DIR", profiles)
    reports = tmp_path / "reports"
    rc = cli.main(["run", "--profile", "smoke", "--reports", str(reports), "--set", f"run_dir={tmp_path / 'runs'}",
                   f"data_dir={tmp_path / 'data'}", "n_train=4", "n_test=4", "n_samples=2", "n_val=0", "lr_grid=[]",
                   "learning_curve=[]", "n_dev=0"])
    assert rc == 1
    runs = {r["notebook"]: r for r in json.loads((reports / "runs.json").read_text())["results"]}
    assert runs["rar_coin_flip"]["status"] == "failed" and "deliberate failure for the test" in runs["rar_coin_flip"]["error"]
    assert runs["rar_last_letter"]["status"] == "ok"
    assert (reports / "rar_last_letter.metrics.json").exists() and (reports / "rar_last_letter.html").exists()
    assert (reports / "rar_coin_flip.html").exists()  # the failed notebook's partial output is still rendered


def test_disk_guard_says_how_much(monkeypatch, tmp_path):
    monkeypatch.setenv("S2D_CACHE", str(tmp_path / "fresh-cache"))
    monkeypatch.setattr(models.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**12, 10**12 - 10**8, 10**8))
    with pytest.raises(OSError, match=r"converting model 'qwen2.5-coder-1.5b-instruct' needs ~5.6 GB free there, only 0.1 GB left"):
        models.check_disk("qwen2.5-coder-1.5b-instruct")
    models.check_disk("tiny-random")  # built locally, small: never blocked


def test_git_commit_is_marked_dirty_when_the_code_differs(tmp_path):
    """A report's commit must name the code that ran: '+dirty' once s2dlib/ or notebooks/ differ from HEAD, not for
    other files (a run rewrites reports/ itself)."""
    import s2dlib.provenance as prov

    repo = tmp_path / "repo"
    (repo / "s2dlib").mkdir(parents=True)
    for module in ("provenance.py", "jsonio.py"):  # provenance and what it imports
        shutil.copy(Path(prov.__file__).with_name(module), repo / "s2dlib" / module)
    (repo / "s2dlib" / "__init__.py").write_text("")
    (repo / "README.md").write_text("a\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run(git + args, check=True)
    ask = [sys.executable, "-c", "import s2dlib.provenance as p; print(p.__file__, p.git_commit())"]
    commit = lambda: subprocess.run(ask, cwd=repo, capture_output=True, text=True, check=True).stdout.split()  # noqa: E731
    (repo / "README.md").write_text("b\n")
    where, clean = commit()
    assert Path(where).parent == repo / "s2dlib"  # the copy ran, not the installed package
    (repo / "s2dlib" / "provenance.py").write_text((repo / "s2dlib" / "provenance.py").read_text() + "\n# changed\n")
    assert len(clean) >= 7 and "+" not in clean and commit()[1] == clean + "+dirty"


def test_session_log_follows_each_stored_chunk(tmp_path):
    """A session killed mid-stage has already logged the stage's time so far and the completions it stored."""
    from s2dlib.config import ExperimentConfig
    from s2dlib.pipeline import Experiment
    from s2dlib.provenance import cpu_info, transparent_hugepage

    exp = Experiment(ExperimentConfig(task="last_letter", model="tiny-random", run_dir=str(tmp_path)), "unit")
    log = exp.dir / "sessions.json"
    with exp.stage("generate"):
        time.sleep(0.2)
        exp.cache.put_many([("k1", Completion("a", 1, 0.1)), ("k2", Completion("b", 1, 0.1))])
        (entry,) = json.loads(log.read_text())  # written by the chunk, before the stage ends
        assert entry["completions_generated"] == 2 and entry["stage_s"]["generate"] >= 0.2
        assert entry["transparent_hugepage"] == transparent_hugepage()  # wall times of different modes differ
        assert entry["cpu"].startswith(cpu_info()["model"])  # an archived run's sessions may span machines
    again = Experiment(ExperimentConfig(task="last_letter", model="tiny-random", run_dir=str(tmp_path)), "unit")
    again.cache.put_many([("k3", Completion("c", 1, 0.1))])
    assert [e["completions_generated"] for e in json.loads(log.read_text())] == [2, 1]


def test_an_archived_run_resumes_on_another_machine_without_retraining(tiny_model, tmp_path):
    """`s2d archive`, then a fresh machine (no runs/ folder): the same distillation and evaluation read the archived
    completions and training record (no model trained or generated); a generation the archive lacks trains the adapter
    under the same training key first."""
    import shutil

    from s2dlib.config import ExperimentConfig
    from s2dlib.distill import PendingAdapter, trained_record
    from s2dlib.pipeline import Experiment, archive

    cfg = ExperimentConfig(task="last_letter", model="tiny-random", engine="hf", n_train=4, n_test=3, epochs=1,
                           train_batch_size=4, max_new_tokens=8, max_new_tokens_direct=8, run_dir=str(tmp_path / "runs"),
                           data_dir=str(tmp_path / "data"))

    def distill_and_evaluate():
        exp = Experiment(cfg, "arc")
        exp.load_data()
        adapter = exp.distill("Distill", exp.gold_targets())
        return exp, adapter, exp.evaluate("Distill", "system1", adapter)[0]

    exp, adapter, row = distill_and_evaluate()
    assert archive(cfg, "arc")["trainings"] == 1
    shutil.rmtree(tmp_path / "runs")  # the machine is gone
    exp2, pending, row2 = distill_and_evaluate()
    assert isinstance(pending, PendingAdapter) and not pending.path.exists()  # nothing trained
    assert exp2.trainings[-1]["status"] == "trained on an earlier machine (archived record)"
    assert exp2.trainings[-1]["steps"] == exp.trainings[-1]["steps"] and exp2.cache.added == 0
    assert exp2.trainings[-1]["precision"] == exp.trainings[-1]["precision"] != "not recorded"
    assert row2["outcomes"] == row["outcomes"] and row2["accuracy"] == row["accuracy"]
    exp2.generate("system1", exp2.train, cfg.greedy(), adapter=pending)  # not archived: train, then generate
    assert trained_record(pending.path, pending.key) is not None and exp2.cache.added == len(exp2.train)
