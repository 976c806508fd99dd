"""Report helpers: the verdicts against the study's criteria, and executed notebooks shaped for reading."""
import nbformat

from s2dlib import cli, report


def row(system, acc, lo, hi, tokens, n=200):
    return {"system": system, "status": "ok", "accuracy": acc, "ci_low": lo, "ci_high": hi, "tokens": tokens, "n": n}


S1, S2 = row("System 1", 5.0, 1.0, 9.0, 7), row("2-step RaR", 70.0, 63.0, 77.0, 120)


def test_verdict_reproduced_needs_gain_separation_and_cheapness():
    ok = report.verdict([S1, S2, row("Distill 2-step RaR", 60.0, 53.0, 67.0, 8)], "table1")
    assert ok.startswith("REPRODUCED") and "55.0 points" in ok
    costly = report.verdict([S1, S2, row("Distill 2-step RaR", 60.0, 53.0, 67.0, 30)], "table1")  # > 10% of 120 tokens
    assert costly.startswith("PARTIAL")
    overlapping = report.verdict([S1, S2, row("Distill 2-step RaR", 25.0, 8.0, 42.0, 8)], "table1")  # CI touches S1's
    assert overlapping.startswith("NOT REPRODUCED")


def test_verdict_compares_the_gold_ceiling_with_system1_and_the_distilled_model():
    flat = row("Distill 2-step RaR", 6.0, 2.0, 10.0, 8)
    low = report.verdict([S1, S2, flat, row(report.GOLD, 8.0, 3.0, 13.0, 8)], "table1")
    assert "Even the gold-label ceiling does not beat System 1" in low
    high = report.verdict([S1, S2, flat, row(report.GOLD, 80.0, 72.0, 88.0, 8)], "table1")
    assert "System 2 targets (or how many the filter kept) are what falls short" in high
    near = report.verdict([S1, S2, row("Distill 2-step RaR", 12.0, 7.5, 16.5, 7), row(report.GOLD, 14.5, 10.0, 19.5, 7)], "table1")
    assert "ceiling beats System 1 but not the distilled model" in near and "not the targets" in near
    assert report.verdict([S1], "table1").startswith("Not decidable")


def paired(diff, lo, hi, p=0.01, metric="accuracy"):
    return {"metric": metric, "diff": diff, "ci_low": lo, "ci_high": hi, "p": p}


def test_verdict_reads_paired_differences_and_says_level_only_inside_ten_points():
    d = row("Distill 2-step RaR", 12.0, 7.5, 16.5, 7)  # marginal CI overlaps System 1's ...
    beats = report.verdict([S1, S2, {**d, "vs_system1": paired(7.0, 3.0, 11.0), "vs_system2": paired(-58.0, -65, -50)}],
                           "table1")  # ... but the paired difference on the same items excludes 0
    assert "beats System 1 (+7.0 points [+3.0, +11.0], McNemar p=0.01)" in beats and "is below 2-step RaR" in beats
    assert "paired 95% CI of the difference above 0" in beats
    near = {**row("Distill 2-step RaR", 66.0, 59.0, 73.0, 7), "vs_system1": paired(61.0, 54.0, 68.0)}
    level = report.verdict([S1, S2, {**near, "vs_system2": paired(-4.0, -9.0, 1.0, 0.2)}], "table1")
    assert level.startswith("REPRODUCED") and "is level with 2-step RaR" in level
    wide = report.verdict([S1, S2, {**near, "vs_system2": paired(-4.0, -14.0, 6.0, 0.4)}], "table1")
    assert "is not shown different from 2-step RaR" in wide and "level with" not in wide
    no = report.verdict([S1, S2, {**d, "vs_system1": paired(7.0, -1.0, 15.0, 0.1)}], "table1")
    assert no.startswith("NOT REPRODUCED") and "is not shown different from System 1" in no


def test_verdict_over_seeds_needs_every_seed_to_beat_system1_and_reports_each_against_system2():
    def seed(k, acc, vs1, vs2):
        name = "Distill 2-step RaR" + (f" (seed {k})" if k else "")
        return {**row(name, acc, acc - 7, acc + 7, 7), "seed": k, "vs_system1": vs1, "vs_system2": vs2,
                **({"base_system": "Distill 2-step RaR"} if k else {})}
    s0 = seed(0, 66.0, paired(61.0, 54.0, 68.0), paired(-4.0, -9.0, 1.0))
    s1 = seed(1, 60.0, paired(55.0, 48.0, 62.0), paired(-10.0, -17.0, -2.0))
    s2 = seed(2, 54.0, paired(49.0, 42.0, 56.0), paired(-16.0, -23.0, -8.0))
    every = report.verdict([S1, S2, s0, s1, s2], "table1")
    assert every.startswith("REPRODUCED") and "55.0 points over System 1 (the mean of 3 seeds)" in every
    assert "seed 0: 66.0%, seed 1: 60.0%, seed 2: 54.0%): mean 60.0%, range 54.0-66.0; 3 of 3 seeds beat" in every
    assert "Against 2-step RaR, paired per seed: level (seed 0), below (seeds 1, 2)." in every
    lost = seed(2, 9.0, paired(4.0, -1.0, 9.0), paired(-61.0, -68.0, -54.0))
    one = report.verdict([S1, S2, s0, s1, lost], "table1")  # the mean still clears 20 points, one seed does not
    assert one.startswith("NOT REPRODUCED") and "2 of 3 seeds beat" in one
    assert "With seed 2 the distilled model does not beat System 1: the effect depends on the training seed" in one


def test_verdict_reads_each_tables_metric_and_the_negative_result():
    def biased(system, acc, lo, hi, tokens):  # Table 2's claim: the biased inputs of questions System 1 knows
        return {"system": system, "status": "ok", "accuracy_known_biased": acc, "ci_low_known_biased": lo,
                "ci_high_known_biased": hi, "tokens": tokens}
    s2a = [biased("System 1", 40.0, 33.0, 47.0, 9), biased("S2A", 60.0, 53.0, 67.0, 200)]
    assert report.verdict(s2a + [biased("Distill S2A", 55.0, 48.0, 62.0, 9)], "table2").startswith("REPRODUCED")
    assert "accuracy_known_biased: System 1 40.0% [33.0, 47.0]" in report.verdict(
        s2a + [biased("Distill S2A", 45.0, 38.0, 52.0, 9)], "table2")  # a gain inside the intervals is not an effect
    # a ceiling that rises on biased inputs only (it learned to repeat the user's answer) bounds nothing
    def both(system, b, u):
        return {**biased(system, *b, 9), "accuracy_unbiased": u[0], "ci_low_unbiased": u[1], "ci_high_unbiased": u[2]}
    s1, d = both("System 1", (50.0, 41.0, 59.0), (40.0, 28.0, 54.0)), both("Distill S2A", (39.0, 29.0, 48.0), (6.0, 0.0, 14.0))
    cue = report.verdict([s1, d, biased("S2A", 43.0, 34.0, 52.0, 79), both(report.GOLD, (71.0, 67.0, 75.0), (20.0, 10.0, 32.0))],
                         "table2")
    assert "does not rise on accuracy_unbiased (20.0% [10.0, 32.0] vs System 1 40.0% [28.0, 54.0])" in cue
    assert "targets (or how many the filter kept) are what falls short" not in cue
    real = report.verdict([s1, d, both(report.GOLD, (71.0, 67.0, 75.0), (70.0, 60.0, 80.0))], "table2")
    assert "are what falls short" in real  # a ceiling that rises on plain questions too is read as usual
    cot = [row("System 1", 5.0, 1.0, 9.0, 7), row("CoT (zero-shot)", 50.0, 42.0, 58.0, 250)]
    fails = report.verdict(cot + [row("Distill CoT", 8.0, 3.0, 13.0, 7)], "table5")
    assert fails.startswith("PAPER'S NEGATIVE RESULT REPRODUCED")
    assert report.verdict(cot + [row("Distill CoT", 40.0, 32.0, 48.0, 7)], "table5").startswith("NEGATIVE RESULT NOT")
    flat = [row("System 1", 5.0, 1.0, 9.0, 7), row("CoT (zero-shot)", 8.0, 3.0, 13.0, 250), row("Distill CoT", 6.0, 2.0, 10.0, 7)]
    assert report.verdict(flat, "table5").startswith("NOT DECIDABLE") and "pilot" not in report.verdict(flat, "table5")
    pilot = report.verdict(cot + [row("Distill CoT", 8.0, 3.0, 13.0, 7, n=8)], "table5")
    assert pilot.endswith("Only 8 test inputs: a pilot, not a result.")


def test_reports_open_with_results_show_parameters_once_and_hide_code():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("n_test = 24", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(f"n_test = 200\nmetrics_path = '{cli.ROOT}/reports/x.metrics.json'",
                                  metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_markdown_cell("## 0. Data"),
        nbformat.v4.new_code_cell("load()"),
        nbformat.v4.new_markdown_cell("## Results (paper Table 1 layout)"),
        nbformat.v4.new_code_cell("table"),
        nbformat.v4.new_markdown_cell("## Provenance"),
    ])
    cli.for_reading(nb)
    sources = [c.source for c in nb.cells]
    assert sources[0] == "# Title" and sources[1] == "## Results (paper Table 1 layout)"  # the answer first
    folded = sources[3]  # after the results section, before the stages: the values that ran, once, folded
    assert folded.startswith("<details>") and "<code>n_test</code></td><td><code>200</code>" in folded
    assert not any("n_test = 24" in s for s in sources)
    heads = [s for s in sources if s.startswith("## ")]
    assert heads == ["## Results (paper Table 1 layout)", "## 0. Data", "## Provenance"]


def test_reports_drop_stderr_progress_bars_and_training_logs():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("stream", name="stderr", text="Warning: something\n"),
        nbformat.v4.new_output("stream", name="stdout", text="{'loss': '0.2992', 'grad_norm': '0.897'}\n"
                               "kept 12 of 20\n 50%|#####     | 1/2 [00:00<00:00,  6.36it/s]\n")])])
    cli.drop_noise(nb)
    assert [o["text"] for o in nb.cells[0].outputs] == ["kept 12 of 20\n"]


def test_rendered_report_has_no_machine_paths_and_no_code(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("secret_code_line = 1", outputs=[nbformat.v4.new_output(
            "stream", name="stdout", text=f"data in {cli.ROOT}/data/last_letter\n")]),
    ])
    src = tmp_path / "x.ipynb"
    nbformat.write(nb, src)
    cli.render_html(src, tmp_path / "x.html")
    html = (tmp_path / "x.html").read_text()
    assert "data in data/last_letter" in html and str(cli.ROOT) not in html and "secret_code_line" not in html
    assert 'href="index.html"' in html and 'class="s2d-run"' not in html  # no record, no run line


def test_rendered_report_opens_with_a_line_naming_the_run(tmp_path):
    src = tmp_path / "x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title")]), src)
    cpu = "AMD EPYC avx2 avx512_bf16"
    prov = {"model_fingerprint": "m@1:int8+ct2", "engine": "ct2", "profile": "power", "n_train": 300, "n_test": 200,
            "git_commit": "abc1234", "cpu": {"cores": 2}, "sessions_wall_s": 17885.6,
            "sessions": [{"started_utc": "2026-12-06T23:00", "cpu": "AMD EPYC avx2"},
                         {"started_utc": "2026-12-07T12:50", "cpu": cpu}, {"started_utc": "2026-12-07T14:21", "cpu": cpu}]}
    cli.render_html(src, tmp_path / "x.html", {"provenance": prov, "config": {"seeds": [0, 1, 2]}})
    html = (tmp_path / "x.html").read_text()
    line = ("Run: m@1:int8+ct2 · engine ct2 · profile power · 300 training, 200 test inputs · seeds 0, 1, 2 · run "
            "2026-12-06 to 2026-12-07 in 3 sittings, 4 h 58 min of wall time · 2-core CPU: AMD EPYC avx2; "
            f"{cpu} · git abc1234.")
    assert line in html and html.index('class="s2d-nav"') < html.index(line) < html.index('href="#Title"')
    cli.stamp_run(tmp_path / "x.html", {"provenance": {**prov, "git_commit": "def5678"}})  # restamped in place
    html = (tmp_path / "x.html").read_text()
    assert html.count('class="s2d-run"') == 1 and "git def5678" in html and "git abc1234" not in html
    assert html.count('id="s2d-style"') == 1 and "seed 0 ·" in html


def test_verdict_judge_must_clear_the_constant_position_level():
    """The 2026-12-02 BSM run: System 1 below 50%, the distilled judge always one position (50.0% [50, 50])."""
    def judge(system, acc, lo, hi, tokens, inconsistent):
        return {"system": system, "status": "ok", "agreement": acc, "ci_low": lo, "ci_high": hi, "tokens": tokens,
                "n": 100, "swap_inconsistent": inconsistent}
    s1, bsm = judge("System 1", 37.0, 28.0, 46.0, 4, 54.0), judge("BSM", 42.0, 33.0, 51.0, 215, 56.0)
    position = report.verdict([s1, bsm, judge("Distill BSM", 50.0, 50.0, 50.0, 4, 100.0)], "table4")
    assert position.startswith("NOT REPRODUCED") and "constant-position level" in position
    assert "swap-inconsistent on 100% of pairs" in position and "System 1 itself lies below" in position
    judged = report.verdict([s1, bsm, judge("Distill BSM", 62.0, 55.0, 69.0, 4, 20.0)], "table4")
    assert judged.startswith("REPRODUCED")
    # the 2026-12-04 power run: a consistent but mostly wrong distilled judge, a ceiling that names one position
    s1, bsm = judge("System 1", 45.0, 38.5, 51.5, 4, 56.0), judge("BSM", 43.0, 37.0, 49.5, 207, 58.0)
    wrong, stuck = judge("Distill BSM", 27.0, 19.5, 35.0, 4, 20.0), judge(report.GOLD, 50.0, 50.0, 50.0, 4, 100.0)
    both = report.verdict([s1, bsm, wrong, stuck], "table4")
    assert both.startswith("NOT REPRODUCED") and "ceiling (50.0% [50.0, 50.0]) does not clear the constant-position" in both
    assert "targets are not the bottleneck" not in both and "gain over System 1" not in both
    assert "swap-inconsistent on 20% of pairs" in both and both.count("so always naming the same position") == 1
    learnt = report.verdict([s1, bsm, wrong, judge(report.GOLD, 70.0, 63.0, 77.0, 4, 10.0)], "table4")
    assert "System 2 targets (or how many the filter kept) are what falls short" in learnt


def test_recipe_note_says_when_validation_did_not_separate_the_candidates():
    def trial(lr, acc, lo, hi):
        return {"lr": lr, "epochs": 2, "val_accuracy": acc, "val_ci_low": lo, "val_ci_high": hi}

    recipe = {"chosen_by": "validation", "lr": 2e-4, "epochs": 2}
    tie = report.recipe_note({**recipe, "trials": [trial(2e-4, 48.0, 34.0, 62.0), trial(1e-3, 46.0, 32.0, 60.0)]})
    assert "lr 0.0002" in tie and "did not separate" in tie and "46.0%" in tie
    clear = report.recipe_note({**recipe, "trials": [trial(2e-4, 80.0, 70.0, 90.0), trial(1e-3, 40.0, 26.0, 54.0)]})
    assert "beats the runner-up" in clear and "did not separate" not in clear
    table = report.recipe_table({**recipe, "trials": [trial(2e-4, 48.0, 34.0, 62.0), trial(1e-3, 46.0, 32.0, 60.0)]})
    assert table["validation accuracy [95% CI]"].tolist() == ["48.0% [34.0, 62.0]", "46.0% [32.0, 60.0]"]
    assert table["chosen"].tolist() == [True, False]
    assert report.recipe_note({**recipe, "chosen_by": "the profile (not tuned)"}) == \
        "Recipe: lr 0.0002, 2 epochs (the profile (not tuned))."


def test_provenance_table_shows_one_row_per_session():
    prov = {"seed": 0, "cpu": {"model": "X"}, "sessions": [{"started_utc": "t0", "wall_s": 5.0}, {"started_utc": "t1", "wall_s": 2.5}]}
    table = report.provenance_table(prov)
    assert dict(zip(table[""], table["value"])) == {"seed": "0", "cpu.model": "X", "sessions[0]": "started_utc=t0, wall_s=5.0",
                                                   "sessions[1]": "started_utc=t1, wall_s=2.5"}


def test_summary_counts_every_session_of_a_run(tmp_path):
    """A run resumed or re-rendered from its cache is reported at what all its sessions took, not the last command."""
    import json

    (tmp_path / "runs.json").write_text(json.dumps({"results": [
        {"notebook": "rar_coin_flip", "status": "ok", "wall_s": 150.0},
        {"notebook": "rar_last_letter", "status": "ok", "wall_s": 90.0}]}))
    prov = {"wall_s": 150.0, "sessions": [{"wall_s": 9000.0}, {"wall_s": 150.0}], "sessions_wall_s": 9150.0}
    (tmp_path / "rar_coin_flip.metrics.json").write_text(json.dumps({"rows": [], "provenance": prov}))
    (tmp_path / "rar_last_letter.metrics.json").write_text(json.dumps({"rows": [], "provenance": {"wall_s": 90.0}}))
    walls = report.experiments(tmp_path).set_index("notebook").wall_s
    assert walls["rar_coin_flip"] == 9150.0 and walls["rar_last_letter"] == 90.0


# --- figures: every point visible, no label on another, colours by role, the paper's numbers drawn -------------------

RAR_ROWS = [row("System 1", 3.0, 1.0, 6.0, 7), row("1-step RaR", 3.0, 1.0, 6.0, 7),
            row("Distill System 1", 3.0, 1.0, 6.0, 7), row("2-step RaR", 63.5, 57.0, 70.0, 132),
            row("Distill 2-step RaR", 60.5, 53.5, 67.5, 7), row("Distill 2-step RaR (no filter)", 60.0, 53.0, 67.0, 7),
            row(report.GOLD, 80.5, 75.0, 86.0, 7),
            row("Router (t=0.00 chosen on dev)", 60.5, 53.5, 67.5, 7)]  # the router at t=0 is the distilled model


def _legible(ax):
    """No marker closer to another than its own size, no label over another; returns the marker centres."""
    import itertools

    import numpy as np
    from matplotlib.collections import PathCollection

    fig = ax.figure
    fig.canvas.draw()
    pt, r = fig.dpi / 72, fig.canvas.get_renderer()
    big = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_sizes().max() >= 50]
    centres = np.concatenate([c.get_offset_transform().transform(c.get_offsets()) for c in big])
    for a, b in itertools.combinations(centres, 2):
        assert np.hypot(*(a - b)) >= 7.4 * pt, f"markers at {a} and {b} hide one another"
    boxes = [t.get_window_extent(r) for t in ax.texts if t.get_text().strip() and t.get_visible()]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b.shrunk(0.9, 0.8)), f"labels at {a} and {b} overlap"
    return centres


def test_roles_and_panel_titles_read_as_the_paper_does():
    from s2dlib.paper import beyond_paper
    from s2dlib.report.roles import BEYOND_KIND, CONTROL_KIND, ROLES, ROUTER_KIND, panel_title, role_of

    s2 = "System 2 method or variant"
    systems = ("System 1", "1-step RaR", "2-step RaR", "Distill System 1", "Distill 2-step RaR",
               "Distill 2-step RaR (no filter)", report.GOLD, "Router (t=0.00 chosen on dev)")
    assert [role_of(s, "table1") for s in systems] == ["System 1", s2, s2, "distilled", "distilled",
                                                       "ablation (no filter / no USC)", "gold-label ceiling (oracle)",
                                                       ROUTER_KIND]
    assert role_of("CoT (few-shot) maj@5", "table5") == role_of("CoT (zero-shot)", "table5") == s2
    assert role_of("Distill S2A (no USC)", "table2").startswith("ablation") and set(ROLES) >= {ROUTER_KIND}
    assert panel_title("table1", "last_letter") == "Table 1 · last-letter"
    assert [role_of(beyond_paper("table5")[k], "table5") for k in ("system15", "system15_control")] == [
        BEYOND_KIND, CONTROL_KIND]
    assert panel_title("table4", "pairwise_judge") == "Table 4 · BSM judge"


def test_accuracy_figure_hides_no_point_and_draws_the_papers_numbers():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from s2dlib.report.roles import BEYOND_KIND, CONTROL_KIND, ROLES, ROUTER_KIND

    ax = report.plot_accuracy_vs_tokens(RAR_ROWS, "table1", "last_letter")
    assert len(_legible(ax)) == len(RAR_ROWS) and ax.get_title() == "Table 1 · last-letter"
    legend = ax.get_legend()
    assert not legend.get_window_extent().overlaps(ax.get_window_extent())  # outside the data area
    names = {t.get_text() for t in legend.get_texts()}
    assert set(ROLES) - {BEYOND_KIND, CONTROL_KIND} <= names and "ablation / oracle" not in names
    levels = {line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == ":"}
    assert levels == {30.0, 98.0}  # the paper's System 1 and Distill 2-step RaR (no token counts: dotted levels)
    texts = {t.get_text() for t in ax.texts}
    assert {"paper: System 1 30%", "paper: Distill 2-step RaR 98%", "Router (t=0.00)", "1-step RaR"} <= texts
    router = [c for c in ax.collections if len(c.get_facecolors()) and
              matplotlib.colors.to_hex(c.get_facecolors()[0]) == ROLES[ROUTER_KIND][0].lower()]
    assert len(router) == 1  # the router in its own colour, beside (not over) Distill 2-step RaR
    plt.close("all")
    sweep = [{"threshold": t, "tokens": x, "accuracy": y, "pareto": p} for t, x, y, p in
             [(0.0, 7.0, 60.5, True), (0.2, 36.8, 61.5, True), (0.4, 37.5, 61.0, False), (1.0, 132.0, 63.5, False)]]
    ax = report.plot_router(RAR_ROWS, {"test": sweep, "chosen_threshold": 0.0})
    _legible(ax)
    assert {"t=0.00", "t=0.20", "t=0.40", "t=1.00"} <= {t.get_text() for t in ax.texts}
    plt.close("all")


def test_summary_figure_has_a_readable_panel_per_task_and_the_papers_points(tmp_path):
    import json

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection

    (tmp_path / "rar_last_letter.metrics.json").write_text(json.dumps({"rows": RAR_ROWS}))
    cot = [row("System 1", 8.7, 5.0, 13.0, 8.9), row("CoT (zero-shot)", 57.3, 49.0, 65.0, 248),
           row("CoT (few-shot)", 48.0, 40.0, 56.0, 118), row("Distill CoT", 6.0, 3.0, 10.0, 8.3)]
    (tmp_path / "cot_gsm8k.metrics.json").write_text(json.dumps({"rows": cot}))
    fig = report.summary_figure(report.experiments(tmp_path))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["Table 1 · last-letter", "Table 5 · GSM8K"]
    for ax in panels:
        _legible(ax)
    hollow = [c for c in panels[1].collections if isinstance(c, PathCollection) and not c.get_facecolors()[:, 3].any()]
    assert sum(len(c.get_offsets()) for c in hollow) == 2  # the paper's CoT (zero-shot) and Distill CoT: tokens known
    assert any(ax.get_legend() for ax in fig.axes if not ax.get_title())  # the legend in the grid's spare cell
    plt.close("all")


def _last_letter_run(folder, name, model, rows, task="last_letter"):
    """A recorded Table 1 last-letter run of `model`, as the notebook (or `s2d run --name`) writes it."""
    import json

    (folder / f"{name}.metrics.json").write_text(json.dumps({
        "experiment": name, "paper_table": "table1", "task": task, "rows": rows,
        "provenance": {"model": model, "profile": "power", "n_test": 200}}))


def test_model_size_figure_reads_every_last_letter_run_and_the_papers_70b_point(tmp_path):
    """Issue 41: the notebook's run (1.5B) and a `--name`d run (0.5B) in one reports folder give a line per system over
    two sizes in its role's colour, the paper's 70B points hollow; one size draws nothing."""
    import json

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection
    from matplotlib.colors import to_hex

    from s2dlib.models import PACKAGED
    from s2dlib.report.roles import ROLES, role_of

    assert set(PACKAGED) <= set(report.MODEL_SIZES) and report.MODEL_SIZES[report.paper_numbers()["model"]] == 70
    assert report.model_size("Qwen/Qwen2.5-7B-Instruct") == 7 and report.model_size("tiny-random") is None
    (tmp_path / "runs.json").write_text(json.dumps({"profile": "power", "results": []}))
    _last_letter_run(tmp_path, "rar_last_letter", "qwen2.5-coder-1.5b-instruct", RAR_ROWS)
    assert report.plot_model_sizes(tmp_path) is None and not plt.get_fignums()  # one size: no figure at all
    small = [row("System 1", 0.5, 0.0, 1.5, 6), row("2-step RaR", 2.0, 0.5, 4.0, 140),
             row("Distill 2-step RaR", 1.0, 0.0, 2.5, 6), row(report.GOLD, 30.0, 23.5, 36.5, 6)]
    _last_letter_run(tmp_path, "rar_last_letter_0.5b", "qwen2.5-coder-0.5b-instruct", small)
    _last_letter_run(tmp_path, "word_problems", "qwen2.5-coder-0.5b-instruct", small, task="qa")  # not last-letter
    runs = report.size_runs(tmp_path)
    assert sorted(set(runs["run"])) == ["rar_last_letter", "rar_last_letter_0.5b"] and len(runs) == 8
    ax = report.plot_model_sizes(tmp_path)
    lines = [ln for ln in ax.lines if ln.get_linestyle() == "-"]  # ours: one line per system across the two sizes
    systems = ["System 1", "2-step RaR", "Distill 2-step RaR", report.GOLD]
    assert [list(ln.get_xdata()) for ln in lines] == [[0.5, 1.5]] * 4
    assert [to_hex(ln.get_color()) for ln in lines] == [ROLES[role_of(s, "table1")][0].lower() for s in systems]
    assert [list(ln.get_ydata()) for ln in lines][2] == [1.0, 60.5]  # Distill 2-step RaR at 0.5B and at 1.5B
    hollow = [c for c in ax.collections if isinstance(c, PathCollection) and not c.get_facecolors()[:, 3].any()]
    paper = {(tuple(c.get_offsets()[0]), to_hex(c.get_edgecolors()[0])) for c in hollow}
    assert paper == {((70.0, 30.0), ROLES["System 1"][0].lower()), ((70.0, 98.0), ROLES["distilled"][0].lower())}
    assert [float(t) for t in ax.get_xticks()] == [0.5, 1.5, 70.0] and ax.get_xscale() == "log"
    assert "70B\npaper" in [t.get_text() for t in ax.get_xticklabels()]
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"System 1", "2-step RaR (System 2)", "Distill 2-step RaR (distilled)",
            "paper (Llama-2-70B-chat): hollow"} <= legend
    assert report.size_command(tmp_path) == ("s2d run --profile power --only rar_last_letter --name rar_last_letter_0.5b"
                                             " --set model=qwen2.5-coder-0.5b-instruct")
    plt.close("all")
    index = report.write_index(tmp_path).read_text()  # the named run: its paper task's headline cells and verdict
    assert "<td>rar_last_letter_0.5b</td><td>your experiment</td><td>last_letter</td><td>System 1: <b>0.5%</b>" in index
    assert "<td>word_problems</td><td>your experiment</td><td>qa</td><td></td><td></td><td></td>" in index
    assert "not run</td><td></td><td></td><td></td></tr>" in index  # no run, so no model or engine to name


def test_system15_rows_stay_out_of_the_table5_verdict_and_have_their_own_table():
    """System 1.5 and its control go beyond the paper: Table 5's verdict reads Distill CoT alone; `systems_table` lists
    the chosen systems in order, each with its maj@k rows; `target_lengths` says how short the picked chains are."""
    s15, control = report.beyond_paper("table5")["system15"], report.beyond_paper("table5")["system15_control"]
    extra = {"no_answer": 0, "wall_s_per_input": 1.0}
    s1, cot = {**row("System 1", 6.0, 3.0, 9.0, 20), **extra}, {**row("CoT (zero-shot)", 57.0, 50.0, 64.0, 280), **extra}
    d = {**row("Distill CoT", 6.0, 3.0, 9.0, 20), **extra}
    short = {**row(s15, 55.0, 48.0, 62.0, 150), **extra, "k": 1, "base_system": s15}
    maj = {**row(f"{s15} maj@5", 60.0, 53.0, 67.0, 750), **extra, "k": 5, "base_system": s15}
    base = report.verdict([s1, cot, d], "table5")
    assert report.verdict([s1, cot, d, short, maj], "table5") == base and s15 not in base
    table = report.systems_table([cot, maj, short, d, s1], ["System 1", "Distill CoT", s15, control, "CoT (zero-shot)"])
    assert list(table["System"]) == ["System 1", "Distill CoT", s15, f"{s15} maj@5", "CoT (zero-shot)"]
    lengths = report.target_lengths([{"targets": "CoT", "filter": "self_consistency", "kept": 3},
                                     {"targets": "CoT, shortest", "filter": "self_consistency_shortest", "kept": 3,
                                      "capped_dropped": 1, "target_tokens": 140.0, "consistent_tokens": 180.0,
                                      "tokens_per_sample": 200.0}])
    assert list(lengths["Targets"]) == ["CoT, shortest"] and lengths["Targets shorter than a sample %"][0] == 30.0


def test_system15_pairs_are_recorded_per_k_and_read_into_a_table_and_a_finding():
    """Issue 41: `compare_pairs` scores named rows against each other on the same problems (a row not scored is left
    out); `system15_table` lays each system's maj@k side by side, `system15_finding` reads the maj@1 pairs."""
    from types import SimpleNamespace

    from s2dlib.claims import compare_pairs
    from s2dlib.tasks import Example

    s1, d, s15, control, cot = report.system15_systems()
    right = lambda n: [True] * n + [False] * (40 - n)  # noqa: E731  (the first n of 40 problems answered right)
    rows = [{**row(name, 2.5 * n, 0.0, 0.0, tok, n=40), "outcomes": right(n), "k": k, "base_system": name}
            for name, n, tok in ((s1, 4, 9), (d, 3, 8), (s15, 20, 120), (control, 21, 260), (cot, 24, 250))
            for k in (1, 5)]
    for r in rows:  # a maj@5 row is named "<system> maj@5"
        r["system"] = r["system"] if r["k"] == 1 else f"{r['system']} maj@5"
    exp = SimpleNamespace(rows=rows, test=[Example(str(i), f"q{i}", "1") for i in range(40)],
                          cfg=SimpleNamespace(seed=0))
    pairs = compare_pairs(exp, [(s15, cot), (s15, s1), (f"{s15} maj@5", f"{cot} maj@5"), (s15, "not a row")])
    assert exp.pairs is pairs and [(p["a"], p["b"]) for p in pairs] == [(s15, cot), (s15, s1), (f"{s15} maj@5", f"{cot} maj@5")]
    assert pairs[0]["diff"] == -10.0 and (pairs[0]["a_only"], pairs[0]["b_only"]) == (0, 4) and pairs[1]["diff"] == 40.0
    record = {"rows": rows, "pairs": pairs}
    table = report.system15_table(record)
    assert list(table["system"]) == [s1, d, s15, control, cot]
    assert list(table.columns) == ["system", "maj@1 % [95% CI]", "maj@1 tokens", "maj@5 % [95% CI]", "maj@5 tokens"]
    assert table["maj@1 tokens"][2] == "120" and table["maj@5 % [95% CI]"][4].startswith("60.0 ")
    assert list(report.pairs_table(record)["only the other right"]) == [4, 0, 4]
    finding = report.system15_finding(record)
    assert finding.startswith(f"{s15} answers 50.0% ") and "120 generated tokens per problem, 48% of " in finding
    assert f"above {s1} (10.0%; +40.0 points" in finding and f"{control}: no paired comparison recorded" in finding
    assert report.system15_table({"rows": [r for r in rows if r["base_system"] != s15]}).empty
    assert report.system15_finding({"rows": rows[:2]}) == ""


def test_run_header_counts_a_judge_run_in_judgments_and_pairs():
    prov = {"task": "pairwise_judge", "n_train": 300, "n_test": 200, "profile": "power", "seed": 0,
            "started_utc": "2026-12-06T10:00", "wall_s": 754}
    line = report.run_header({"provenance": prov})
    assert "profile power · 300 training, 200 test judgments (150 / 100 pairs in both orders) · seed 0 · " in line
    assert "run 2026-12-06 in 1 sitting, 12.6 min of wall time · git ?." in line and "inputs" not in line
