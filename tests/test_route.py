"""The confidence router: label-free agreement, token accounting, the two extremes, the Pareto front."""
import pytest

from s2dlib.route import agreement, pareto, route, thresholds

NORM = str.lower
S1 = (["ab", "cd", None, "ef"], [5, 6, 24, 5])
S2 = (["ab", "xy", "gh", "EF"], [100, 120, 90, 110])
SAMPLES = [["AB", "ab"], ["cd", "zz"], [None, "q"], ["zz", "yy"]]


def test_agreement_counts_the_greedy_vote_and_matches_no_answer_only_with_no_answer():
    assert agreement(S1[0], SAMPLES, NORM) == [1.0, 2 / 3, 2 / 3, 1 / 3]


def test_extremes_are_system1_and_system2_exactly():
    conf = agreement(S1[0], SAMPLES, NORM)
    lo, hi = route(0.0, conf, S1, [12, 12, 12, 12], S2), route(1.0, conf, S1, [12, 12, 12, 12], S2)
    assert (lo.answers, lo.tokens, lo.sent_share) == (S1[0], S1[1], 0.0)
    assert (hi.answers, hi.tokens, hi.sent_share) == (S2[0], S2[1], 1.0)


def test_tokens_count_greedy_samples_and_system2_where_sent():
    conf = agreement(S1[0], SAMPLES, NORM)
    r = route(2 / 3, conf, S1, [12, 13, 14, 15], S2)
    assert r.sent == [False, True, True, True]
    assert r.answers == ["ab", "xy", "gh", "EF"]
    assert r.tokens == [5 + 12, 6 + 13 + 120, 24 + 14 + 90, 5 + 15 + 110]
    r = route(1 / 3, conf, S1, [12, 13, 14, 15], S2)
    assert r.sent == [False, False, False, True] and r.tokens[:3] == [17, 19, 38]


def test_thresholds_cover_every_decision_and_bad_threshold_is_refused():
    assert thresholds(2) == [0.0, 1 / 3, 2 / 3, 1.0]
    with pytest.raises(ValueError, match=r"threshold=1.5: allowed values are 0 \(always System 1\) to 1"):
        route(1.5, [1.0], (["a"], [1]), [1], (["a"], [1]))


def test_pareto_front():
    pts = [(5, 10.0), (20, 40.0), (30, 35.0), (100, 50.0), (100, 45.0), (5, 10.0)]
    assert pareto(pts) == [True, True, False, True, False, True]


def test_dev_split_leaves_train_and_test_as_they_were(tmp_path):
    """n_dev adds labelled inputs outside training and test; the training and test inputs stay those of the run without
    it (so its cached generations are reused), also for a task that makes two inputs per pair."""
    from s2dlib.config import ExperimentConfig
    from s2dlib.pipeline import Experiment

    base = dict(task="last_letter", model="tiny-random", n_train=5, n_test=4, run_dir=str(tmp_path / "r"),
                data_dir=str(tmp_path / "d"))
    a, b = Experiment(ExperimentConfig(**base), "a"), Experiment(ExperimentConfig(**base, n_dev=3), "b")
    a.load_data(), b.load_data()
    q = lambda xs: [e.question for e in xs]  # noqa: E731
    assert q(a.train) == q(b.train) and q(a.test) == q(b.test) and a.dev == []
    assert len(b.dev) == 3 and not set(q(b.dev)) & set(q(b.train) + q(b.test))
    assert (b.data_path / "dev.jsonl").exists()
