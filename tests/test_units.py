"""Every registered method and filter is built from the config alone, reading its own fields."""
import pytest

from s2dlib.config import ExperimentConfig
from s2dlib.filters import FILTERS, build_filter
from s2dlib.methods import METHODS, build_method
from s2dlib.tasks import Example

TASK_OF = {"bsm": "pairwise_judge", "judge_direct": "pairwise_judge", "swap_consistency": "pairwise_judge",
           "cot": "gsm8k", "cot_fewshot": "gsm8k", "s2a": "sycophancy_qa", "usc": "sycophancy_qa"}
CFG = dict(max_new_tokens=77, max_new_tokens_direct=11, greedy_rephrase=True, n_criteria=2, max_new_tokens_branch=33,
           max_new_tokens_merge=44, min_agreement=0.7, margin=2)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_is_built_from_the_config(name):
    cfg = ExperimentConfig(task=TASK_OF.get(name, "last_letter"), **CFG)
    task = cfg.make_task()
    shots = [Example("s0", "What is 2 + 3?", "5", {"solution": "2 + 3 = 5"})]
    m = build_method(name, cfg, task, shots)
    assert m.name == name
    assert m.max_new_tokens == (11 if name in ("system1", "judge_direct") else 77)
    if name in ("rar_2step", "s2a"):
        assert m.greedy_first is True
    if name == "bsm":
        assert (m.n_criteria, m.max_new_tokens_branch, m.max_new_tokens_merge) == (2, 33, 44)
    if name == "cot_fewshot":
        assert m.demos == [(shots[0].question, task.worked_solution(shots[0]))]


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_every_filter_is_built_from_the_config(name):
    cfg = ExperimentConfig(task=TASK_OF.get(name, "last_letter"), filter=name, **CFG)
    task = cfg.make_task()
    engine = object()
    f = build_filter(name, cfg, task, engine=lambda: engine)
    assert f.name == name and f.normalize == task.normalize
    if name.startswith("self_consistency"):  # System 1.5's shortest/longest consistent CoT vote the same way
        assert (f.min_agreement, f.margin) == (0.7, 2)
    if name == "usc":
        assert f.engine is engine
    if name == "swap_consistency":
        assert f.unswap == task.unswap and f.swap_partners == task.swap_partners


def test_unknown_units_are_refused_with_the_allowed_names():
    cfg = ExperimentConfig()
    with pytest.raises(ValueError, match=r"method='tot': allowed values are bsm, cot, cot_fewshot"):
        build_method("tot", cfg, cfg.make_task())
    with pytest.raises(ValueError, match=r"filter='vote': allowed values are none, self_consistency"):
        build_filter("vote", cfg, cfg.make_task())


def test_run_key_is_the_same_for_a_profiles_int_and_the_childs_parsed_float():
    from s2dlib.distill import LoraSFTConfig, run_key

    pairs = [("q", "a")]
    assert run_key("tiny-random", pairs, LoraSFTConfig(epochs=2)) == run_key("tiny-random", pairs, LoraSFTConfig(epochs=2.0))


def test_transparent_hugepage_reads_the_bracketed_mode(tmp_path):
    from s2dlib.provenance import transparent_hugepage

    f = tmp_path / "enabled"
    f.write_text("always [madvise] never\n")
    assert transparent_hugepage(f) == "madvise"
    f.write_text("garbled\n")
    assert transparent_hugepage(f) is None and transparent_hugepage(tmp_path / "absent") is None


def test_s2d_run_notes_a_thp_mode_that_slows_ctranslate2():
    from s2dlib.cli import thp_note

    assert thp_note("always") is None and thp_note(None) is None
    note = thp_note("madvise")
    assert note.startswith("s2d: note: transparent huge pages are 'madvise'") and "\n" not in note
    assert "echo always > /sys/kernel/mm/transparent_hugepage/enabled" in note
