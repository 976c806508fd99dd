"""The confidence router: label-free agreement, token accounting, the two extremes, the Pareto front."""
import pytest

from s2dlib.route import Side, agreement, choose, pareto, route, sweep, thresholds

NORM = str.lower
S1 = Side(["ab", "cd", None, "ef"], [5, 6, 24, 5], [0.5, 0.6, 2.4, 0.5])
S2 = Side(["ab", "xy", "gh", "EF"], [100, 120, 90, 110], [10.0, 12.0, 9.0, 11.0])
SAMPLES = [["AB", "ab"], ["cd", "zz"], [None, "q"], ["zz", "yy"]]


def test_agreement_counts_the_greedy_vote_and_matches_no_answer_only_with_no_answer():
    assert agreement(S1[0], SAMPLES, NORM) == [1.0, 2 / 3, 2 / 3, 1 / 3]


def test_extremes_are_system1_and_system2_exactly():
    conf = agreement(S1[0], SAMPLES, NORM)
    samples = Side([None] * 4, [12, 12, 12, 12], [1.0] * 4)
    lo, hi = route(0.0, conf, S1, samples, S2), route(1.0, conf, S1, samples, S2)
    assert (lo.answers, lo.tokens, lo.seconds, lo.sent_share) == (S1.answers, S1.tokens, S1.seconds, 0.0)
    assert (hi.answers, hi.tokens, hi.seconds, hi.sent_share) == (S2.answers, S2.tokens, S2.seconds, 1.0)


def test_tokens_count_greedy_samples_and_system2_where_sent():
    conf = agreement(S1[0], SAMPLES, NORM)
    samples = Side([None] * 4, [12, 13, 14, 15], [1.0, 1.0, 1.0, 1.0])
    r = route(2 / 3, conf, S1, samples, S2)
    assert r.sent == [False, True, True, True]
    assert r.answers == ["ab", "xy", "gh", "EF"]
    assert r.tokens == [5 + 12, 6 + 13 + 120, 24 + 14 + 90, 5 + 15 + 110]
    assert r.seconds == pytest.approx([1.5, 13.6, 12.4, 12.5])
    r = route(1 / 3, conf, S1, samples, S2)
    assert r.sent == [False, False, False, True] and r.tokens[:3] == [17, 19, 38]
    assert route(1 / 3, conf, S1._replace(seconds=None), samples, S2).seconds is None


def test_thresholds_cover_every_decision_and_bad_threshold_is_refused():
    assert thresholds(2) == [0.0, 1 / 3, 2 / 3, 1.0]
    with pytest.raises(ValueError, match=r"threshold=1.5: allowed values are 0 \(always System 1\) to 1"):
        route(1.5, [1.0], Side(["a"], [1]), Side([None], [1]), Side(["a"], [1]))


def test_sweep_runs_every_threshold_and_choose_takes_the_cheapest_that_reaches_system2():
    conf = agreement(S1.answers, SAMPLES, NORM)
    routed = sweep(2, conf, S1, Side([None] * 4, [12] * 4), S2)
    assert [r.threshold for r in routed] == thresholds(2) and [r.sent_share for r in routed] == [0, 0.25, 0.75, 1]
    rows = [{"threshold": 0.0, "accuracy": 20.0, "tokens": 10}, {"threshold": 0.4, "accuracy": 55.0, "tokens": 60},
            {"threshold": 0.6, "accuracy": 70.0, "tokens": 60}, {"threshold": 1.0, "accuracy": 70.0, "tokens": 120,
                                                                  "ci_low": 50.0}]
    assert choose(rows)["threshold"] == 0.4  # same tokens as 0.6: the lower threshold
    assert choose(rows[1:])["threshold"] == 0.4 and choose(rows[-1:])["threshold"] == 1.0


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
