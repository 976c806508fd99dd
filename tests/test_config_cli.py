from pathlib import Path

import pytest

from s2dlib import cli
from s2dlib.config import FIELDS, ExperimentConfig, load_profile, profile_names
from s2dlib.filters import FILTERS
from s2dlib.tasks import TASKS
from s2dlib.report import paper_numbers


@pytest.mark.parametrize("params,match", [
    ({"model": "gpt-17"}, r"model='gpt-17': allowed values are qwen2.5-coder-1.5b-instruct"),
    ({"task": "chess"}, rf"task='chess': allowed values are {', '.join(sorted(TASKS))}"),
    ({"engine": "tgi"}, r"engine='tgi': allowed values are auto, hf, ct2, vllm"),
    ({"tensor_parallel_size": 2, "engine": "hf"}, r"tensor_parallel_size=2: allowed values are integers >= 1 \(above 1 only"),
    ({"tensor_parallel_size": 0}, r"tensor_parallel_size=0"),
    ({"profile": "huge"}, rf"profile='huge': allowed values are {', '.join(profile_names())}, custom"),
    ({"n_samples": 0}, r"n_samples=0: allowed values are 1 to 64"),
    ({"n_samples": 100}, r"n_samples=100: allowed values are 1 to 64"),
    ({"n_train": -3}, r"n_train=-3"),
    ({"n_test": 0}, r"n_test=0"),
    ({"temperature": 3.0}, r"temperature=3.0: allowed values are 0 \(greedy\) to 2"),
    ({"top_p": 1.5}, r"top_p=1.5"),
    ({"min_agreement": 2}, r"min_agreement"),
    ({"dtype": "int4"}, r"dtype='int4': allowed values are auto, bfloat16, float32"),
    ({"lr": 5.0}, r"lr"),
    ({"train_file": "/nonexistent.jsonl"}, r"train_file='/nonexistent.jsonl'"),
    ({"filter": "maj"}, rf"filter='maj': allowed values are {', '.join(sorted(FILTERS))}"),
    ({"k": 0}, r"k=0"),
    ({"n_shots": -1}, r"n_shots=-1: allowed values are integers 0 to 16"),
    ({"maj_k": []}, r"maj_k=\[\]: allowed values are a list of distinct integers 1 to 64"),
    ({"maj_k": [1, 1]}, r"maj_k=\[1, 1\]"),
    ({"maj_k": 5}, r"maj_k=5"),
    ({"side_maj_k": [0]}, r"side_maj_k=\[0\]: allowed values are a list of distinct integers 1 to 64"),
    ({"lr": "1e-3"}, r"lr='1e-3': allowed values are numbers"),  # what YAML makes of 1e-3
    ({"n_train": True}, r"n_train=True: allowed values are integers"),
    ({"greedy_rephrase": "yes please"}, r"greedy_rephrase='yes please': allowed values are true or false"),
    ({"filter": "swap_consistency"}, r"filter='swap_consistency': allowed values are none, self_consistency, self_consistency_longest, self_consistency_shortest, usc for task 'last_letter'"),
    ({"n_val": 20, "n_train": 10}, r"n_val=20: allowed values are integers 0 to n_train - 1"),
    ({"lr_grid": [1e-3, 2e-4]}, r"n_val=0: allowed values are integers >= 1 when lr_grid"),
    ({"learning_curve": [0, 10]}, r"learning_curve=\[0, 10\]"),
])
def test_bad_parameters_fail_with_one_line(params, match):
    with pytest.raises(ValueError, match=match) as e:
        ExperimentConfig.from_params(params)
    assert "\n" not in str(e.value)


def test_vllm_missing_names_the_install(monkeypatch):
    import s2dlib.config

    monkeypatch.setattr(s2dlib.config, "vllm_available", lambda: False)
    with pytest.raises(ValueError, match=r"engine='vllm': vllm is not installed; install it with: pip install") as e:
        ExperimentConfig.from_params({"engine": "vllm"})
    assert "\n" not in str(e.value)


def test_unknown_parameter_named():
    with pytest.raises(ValueError, match="unknown parameter 'n_sample'"):
        ExperimentConfig.from_params({"n_sample": 3})


def test_profiles_are_valid():
    """Every shipped profile plans every notebook it covers (all of them, but the main job's `quick`: last-letter
    alone), each with its paper task (its parameters cell's `task`; a notebook outside the paper: that task)."""
    task_of = {nb: task for tasks in paper_numbers()["notebooks"].values() for task, nb in tasks.items()}
    assert sorted(dict(cli.plan("quick", None, {}, Path("reports")))) == ["rar_last_letter"]
    for profile in ("smoke", "short", "paper", "power", "medium"):
        jobs = dict(cli.plan(profile, None, {}, Path("reports")))
        assert sorted(jobs) == cli.notebook_names()
        for nb, params in jobs.items():
            cfg = cli.notebook_config(nb, params)
            assert params["profile"] == cfg.profile == profile
            assert cfg.task == task_of.get(nb, cli.notebook_parameters(nb)["task"])


def test_run_all_runs_the_profile_its_parameters_cell_names():
    """Issue 39: a notebook's parameters cell names the README's main job (`quick`) and sets a few knobs, each None
    (the profile's value) but the notebook's own task and filter; so "Run All" in JupyterLab runs quick's values on
    rar_last_letter, and short's (quick's `others:`) on the notebooks quick does not cover. What `s2d run` injects
    after the cell (the profile, --set values) overrides both."""
    own = {"profile", "experiment_name", "metrics_path", "task", "filter"}
    for nb in cli.notebook_names():
        cell = cli.notebook_parameters(nb)
        assert cell["profile"] == "quick" and all(v is None for k, v in cell.items() if k not in own), (nb, cell)
        assert set(cell) <= set(FIELDS) | own and len(cell) <= 9, (nb, sorted(cell))  # a handful of knobs
        ran, want = cli.notebook_config(nb, {}), load_profile("quick" if nb == "rar_last_letter" else "short", nb)
        assert all(getattr(ran, k) == v for k, v in want.items()), nb
        assert cli.notebook_config(nb, {"profile": "smoke", "n_test": 3}).n_test == 3
    assert [nb for nb, _ in cli.plan("smoke", None, {"n_test": 3}, Path("reports"))] == cli.notebook_names()
    injected = dict(cli.plan("smoke", ["rar_coin_flip"], {"n_test": 3}, Path("r"), name_as="mine"))["rar_coin_flip"]
    assert injected == {"profile": "smoke", "n_test": 3, "experiment_name": "mine", "metrics_path": "r/mine.metrics.json"}


def test_each_profile_reports_in_its_own_folder_and_a_failed_run_writes_nothing(tmp_path, capsys):
    """Issue 38: the main job (`quick`) and every other profile write under reports/<profile>/, never over the study's
    reports/power/; a run refused at validation writes no file at all."""
    assert cli.default_reports("quick") == cli.ROOT / "reports" / "quick" != cli.default_reports("power")
    study = cli.ROOT / "reports" / "power"
    before = {p: p.stat().st_mtime_ns for p in study.rglob("*")}
    assert cli.main(["run", "--profile", "quick", "--set", "model=/no/such/folder"]) == 2
    assert "model" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in study.rglob("*")} == before


def test_a_notebook_without_a_profile_block_runs_on_the_defaults(tmp_path, monkeypatch):
    """A new notebook needs no profile edits: its own parameters cell gives task and filter, the profile the sizes."""
    from s2dlib import config

    monkeypatch.setattr(config, "PROFILES_DIR", tmp_path)
    (tmp_path / "bare.yaml").write_text("defaults: {n_test: 7}\n")
    jobs = dict(cli.plan("bare", ["bsm_judge"], {}, tmp_path))
    assert set(jobs["bsm_judge"]) == {"profile", "metrics_path"}  # the notebook reads the profile itself
    cfg = cli.notebook_config("bsm_judge", jobs["bsm_judge"])
    assert (cfg.n_test, cfg.task, cfg.filter, cfg.profile) == (7, "pairwise_judge", "swap_consistency", "bare")
    swap = {"filter": "swap_consistency"}  # needs the judge task's swap partners: checked with the notebook's own task
    assert dict(cli.plan("bare", ["bsm_judge"], swap, tmp_path))["bsm_judge"]["filter"] == "swap_consistency"
    with pytest.raises(ValueError, match="filter='swap_consistency': allowed values are .* for task 'coin_flip'"):
        cli.plan("bare", ["rar_coin_flip"], swap, tmp_path)


def test_runner_rejects_before_loading_any_model(tmp_path, monkeypatch, capsys):
    import s2dlib.models

    def boom(*a, **k):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(s2dlib.models, "load_model", boom)
    monkeypatch.setattr(s2dlib.models, "resolve_model", boom)
    reports = tmp_path / "reports"
    for argv, msg in [
        (["--profile", "nope"], "profile='nope'"),
        (["--profile", "smoke", "--set", "n_samples=0"], "n_samples=0"),
        (["--profile", "smoke", "--set", "n_samples=0", "--set", "temperature=0.3"], "n_samples=0"),  # both --set kept
        (["--profile", "smoke", "--only", "rar_chess"], "--only 'rar_chess'"),
        (["--profile", "smoke", "--set", "model=unknown-model"], "model='unknown-model'"),
        (["--profile", "smoke", "--set", "n_sample=3"], "unknown parameter 'n_sample'"),  # not silently ignored
    ]:
        assert cli.main(["run", *argv, "--reports", str(reports)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("s2d: error:") and msg in err and "\n" not in err
    assert not reports.exists()


def test_parse_set_types(tmp_path, monkeypatch):
    """--set and profiles read a value as its field's type (the dataclass annotation), one function for both."""
    from s2dlib import config

    assert cli.parse_set(["lr=1e-3"]) == {"lr": 0.001}  # YAML 1.1 alone would read a string
    assert cli.parse_set(["n_samples=4", "temperature=0.3", "greedy_rephrase=false", "model=tiny-random"]) == {
        "n_samples": 4, "temperature": 0.3, "greedy_rephrase": False, "model": "tiny-random"}
    assert cli.parse_set(["prompt_suffix=yes", "lr_grid=[1e-3, 2e-4]", "train_file=null"]) == {
        "prompt_suffix": "yes", "lr_grid": [0.001, 0.0002], "train_file": None}  # text stays text
    with pytest.raises(ValueError, match="key=value"):
        cli.parse_set(["oops"])
    monkeypatch.setattr(config, "PROFILES_DIR", tmp_path)
    (tmp_path / "mine.yaml").write_text("defaults: {lr: 1e-3, epochs_grid: [1, 2e0]}\n")
    assert config.load_profile("mine", "rar_last_letter") == {"lr": 0.001, "epochs_grid": [1, 2.0], "profile": "mine"}


def test_params_lists_every_parameter_from_the_metadata(capsys):
    """`s2d params`: each field's type, default, allowed values and help; a profile's values where they differ."""
    from s2dlib.config import FIELDS
    from s2dlib.filters import SelfConsistency

    assert cli.main(["params"]) == 0
    out = capsys.readouterr().out
    assert all(f"\n{name}: " in out for name in FIELDS) and all(f.metadata["help"] for f in FIELDS.values())
    assert "\nn_train: int = 16; allowed: integers >= 1\n    unlabeled inputs for System 2 generation\n" in out
    assert "\nlr_grid: list[float] = []; allowed: a list of numbers in (0, 1)\n" in out
    assert "used by rar_last_letter, rar_coin_flip and bsm_judge only" in out  # power's n_val, lr_grid: not everywhere
    assert cli.main(["params", "--profile", "power"]) == 0
    out = capsys.readouterr().out
    assert "\nn_train: int = 16; allowed: integers >= 1; power: 300; power/s2a_sycophancy: 150;" in out
    assert "\nk: int = 2; allowed: integers >= 1\n" in out  # power leaves k at its default
    assert cli.main(["params", "--profile", "huge"]) == 2 and "profile='huge'" in capsys.readouterr().err
    assert ExperimentConfig().min_agreement == SelfConsistency().min_agreement  # one default


def test_progress_redraws_collapse_to_final_state():
    import nbformat

    def stream(text, name="stderr"):
        return nbformat.v4.new_output("stream", name=name, text=text)

    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [stream("a:   0%"), stream("a:  50%"), stream("a: 100%"), stream("\n"), stream("b:   0%"),
                    stream("b: 100%"), stream("result\n", "stdout"), stream("c: 10%"), stream("c: 100%")]
    nb = nbformat.v4.new_notebook(cells=[cell])
    cli.collapse_progress(nb)
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [
        ("stderr", "a: 100%\nb: 100%"), ("stdout", "result\n"), ("stderr", "c: 100%")]


def test_readme_glance_table_is_written_from_the_metrics(tmp_path):
    """Issue 37: the README's results-at-a-glance table comes from the committed metrics, between markers."""
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{cli.GLANCE[0]}\nstale\n{cli.GLANCE[1]}\nafter\n")
    assert cli.update_readme(cli.ROOT / "reports" / "power", readme)
    text = readme.read_text()
    assert "stale" not in text and text.endswith(f"{cli.GLANCE[1]}\nafter\n") and "| last_letter |" in text
    if (cli.ROOT / "reports" / "power" / "rar_last_letter_0.5b.metrics.json").exists():  # issue 41: sizes beside
        assert "| 0.5 | qwen2.5-coder-0.5b-instruct | rar_last_letter_0.5b | 200 |" in text
    assert "| paper table |" in cli.ROOT.joinpath("README.md").read_text()  # the committed README carries the table


def test_every_profile_value_passes_its_field_check():
    """Profiles are flat overrides of the config: every value of every profile (paper-gpu's GPU settings included,
    which this CPU machine could not build a config from) is a field that accepts it."""
    from s2dlib.config import FIELDS, is_allowed, load_profile, profile_blocks, profile_names

    for profile in profile_names():
        for notebook in profile_blocks(profile):
            bad = {k: v for k, v in load_profile(profile, notebook).items() if k != "profile" and not is_allowed(FIELDS[k], v)}
            assert not bad, (profile, notebook, bad)
    assert load_profile("paper-gpu", "s2a_sycophancy")["n_samples"] == 20  # the paper's USC samples
