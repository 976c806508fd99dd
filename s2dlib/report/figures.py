"""Accuracy against generated tokens (one run, the router's sweep, the study summary) and the learning curve.

Every figure colours and shapes a point by its row's role (`role_of`), the same in every figure and legend. Points
that would fall on one spot are set side by side (`_dodge`: 9 display points apart; on the log tokens axis that moves
a point by a few % of its token count), each label goes to the first free spot near its point (`_place`:
deterministic, a grey leader line where it had to climb), and the paper's numbers are drawn hollow (a point, where the
paper gives tokens) or as a dotted level (where it gives none). Legends sit outside the data area."""
from __future__ import annotations

import pandas as pd

from ..evaluate import metric_suffix
from ..paper import paper_numbers
from .cells import _words
from .pages import _metrics
from .roles import CEILING, DISTILLED, ROLES, ROUTER_KIND, S2, panel_title, role_of
from .sizes import SIZE_TABLE, size_paper, size_runs, size_systems

LEGEND_TITLE = "colour and shape: the row's role\n(rows on one spot are set side by side)"
_COLS = ["label", "line", "role", "x", "y", "lo", "hi"]


def _ylabel(metric: str) -> str:
    """'accuracy_biased' -> 'accuracy (biased) % (test), 95% CI'."""
    words = _words(metric).strip()
    return f"{metric.split('_')[0]}{f' ({words})' if words else ''} % (test), 95% CI"


def _ours(rows: list[dict], table: str, metric: str) -> pd.DataFrame:
    """Finished rows with `metric`: label, maj@k line (base system), role, tokens x, score y and its CI."""
    sfx = metric_suffix(metric)
    return pd.DataFrame([{"label": r["system"].replace(" chosen on dev", ""),
                          "line": r.get("base_system") or r["system"], "role": role_of(r["system"], table),
                          "x": r["tokens"], "y": r[metric],
                          "lo": r.get(f"ci_low{sfx}"), "hi": r.get(f"ci_high{sfx}")}
                         for r in rows if r.get("status") == "ok" and r.get(metric) is not None], columns=_COLS)


def _paper(table: str, task: str, metric: str) -> pd.DataFrame:
    """The paper's rows of `table`/`task` that give `metric` (x is NaN where the paper gives no token count)."""
    rows = paper_numbers()["tables"].get(table, {}).get("tasks", {}).get(task, []) if table else []
    return pd.DataFrame([{"label": f"paper: {r['system']} {r[metric]:g}%", "role": role_of(r["system"], table),
                          "x": r.get("tokens"), "y": r[metric]} for r in rows if r.get(metric) is not None],
                        columns=["label", "role", "x", "y"]).astype({"x": float})


def _frame(ax, xs, metric: str, fontsize: float) -> None:
    """Log tokens axis spanning `xs` with room for labels, plain tick numbers, 0-100 % score axis."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    xs = [x for x in xs if pd.notna(x) and x > 0] or [1.0, 100.0]
    ax.set_xscale("log")
    ax.set_xlim(min(xs) / 1.6, max(xs) * 2.2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.25, lw=0.6)
    ax.set_xlabel("mean generated tokens per input (log)", fontsize=fontsize + 1)
    ax.set_ylabel(_ylabel(metric), fontsize=fontsize + 1)
    ax.tick_params(labelsize=fontsize)


def _handles(roles, paper: pd.DataFrame, router: bool = False) -> list:
    """Legend entries: each role present (its colour and marker), how ours and the paper's numbers are drawn."""
    from matplotlib.lines import Line2D

    h = [Line2D([], [], ls="", marker=m, color=c, markersize=7, label=r) for r, (c, m) in ROLES.items() if r in roles]
    model = paper_numbers()["model"]
    if len(paper) or router:
        h.append(Line2D([], [], ls="", marker="o", color="0.3", markersize=6, label="ours: filled, 95% CI bar"))
    if paper["x"].notna().any():
        h.append(Line2D([], [], ls="", marker="o", mfc="none", mec="0.2", markersize=7, label=f"paper ({model})"))
    if paper["x"].isna().any():
        h.append(Line2D([], [], ls=":", color="0.2", label=f"paper ({model}), no token count"))
    if router:
        c = ROLES[ROUTER_KIND][0]
        h.append(Line2D([], [], ls="-", lw=1, color=c, marker="o", markersize=4, mfc="white", label="router threshold "
                        "sweep (t=...), filled\nwhere Pareto-optimal; its router marker:\nthe threshold chosen on dev"))
    return h


def _dodge(ax, df: pd.DataFrame, width: float = 9.0) -> pd.Series:
    """x of each point, nudged sideways so that no two markers are closer than `width` display points in both x and y:
    points that would be are grouped and set side by side `width` apart (in role order) around their mean x, until no
    two groups touch; points apart keep their x."""
    import itertools

    import numpy as np

    if df.empty:
        return df["x"]
    xy = ax.transData.transform(df[["x", "y"]].to_numpy(float))
    px, order, groups = width * ax.figure.dpi / 72, list(ROLES), [[i] for i in range(len(df))]
    while True:
        out = xy.copy()
        for g in groups:
            g.sort(key=lambda i: (order.index(df["role"].iloc[i]), xy[i, 0], i))
            out[g, 0] = xy[g, 0].mean() + (np.arange(len(g)) - (len(g) - 1) / 2) * px
        touch = next(((a, b) for a, b in itertools.combinations(groups, 2)
                      if any(abs(out[i] - out[j]).max() < px - 1e-6 for i in a for j in b)), None)
        if touch is None:
            return pd.Series(ax.transData.inverted().transform(out)[:, 0], index=df.index)
        touch[0].extend(touch[1])
        groups.remove(touch[1])


def _draw(ax, ours: pd.DataFrame, paper: pd.DataFrame, fontsize: float, sweep: pd.DataFrame | None = None) -> tuple:
    """Ours filled with CI bars (maj@k points joined per system), the paper's points hollow and its levels dotted, in
    role colours; a router's threshold sweep (x, y, label, pareto, chosen) as a line of small dots, filled where
    Pareto-optimal, the dev-chosen threshold in the router's marker. Returns the labels to place (text, x, y,
    fontsize, "point" or "level"), the points as drawn and the lines drawn (x list, y list), for labels to avoid."""
    import numpy as np

    sweep = pd.DataFrame(columns=["x", "y", "label", "pareto", "chosen"]) if sweep is None else sweep
    points = pd.concat([ours.assign(src="ours"), paper[paper["x"].notna()].assign(src="paper"),
                        sweep.assign(src="sweep", role=ROUTER_KIND)], ignore_index=True)
    points["x"] = _dodge(ax, points)
    labels = [(r.label, r.x, r.y, fontsize - (r.src == "sweep"), "point") for r in points.itertuples()]
    sw, lines, c = points[points["src"] == "sweep"], [], ROLES[ROUTER_KIND][0]
    if len(sw):
        ax.plot(sw["x"], sw["y"], "-", color=c, lw=1, zorder=2)
        ax.scatter(sw["x"], sw["y"], s=16, zorder=4, color=c, lw=1,
                   facecolor=[c if p else "white" for p in sw["pareto"]])
        lines.append((list(sw["x"]), list(sw["y"])))
    for (src, role), g in points[(points["src"] != "sweep") | points["chosen"].eq(True)].groupby(["src", "role"],
                                                                                                 sort=False):
        c, m = ROLES[role]
        hollow = src == "paper"
        ax.scatter(g["x"], g["y"], s=55, marker=m, zorder=3, lw=1.4 if hollow else 0.6,
                   facecolor="none" if hollow else c, edgecolor=c if hollow else "white")
        if not hollow:
            ax.errorbar(g["x"], g["y"], yerr=[g["y"] - g["lo"], g["hi"] - g["y"]], fmt="none", ecolor=c, alpha=0.5,
                        lw=1, capsize=2, zorder=2)
    for _, g in points[points["src"] == "ours"].groupby("line", sort=False):
        if len(g) > 1:
            ax.plot(g["x"], g["y"], "-", color=ROLES[g["role"].iloc[0]][0], lw=1, alpha=0.6, zorder=1)
            lines.append((list(g["x"]), list(g["y"])))
    levels = paper[paper["x"].isna()]
    if len(levels):  # a level's label sits over the widest empty stretch of the tokens axis
        lo, hi = np.log10(ax.get_xlim())
        edges = np.sort(np.r_[lo, hi, np.log10(points["x"].dropna())])
        at = edges[np.argmax(np.diff(edges))] + np.diff(edges).max() / 2
        for r in levels.itertuples():
            ax.axhline(r.y, ls=":", lw=1.2, color=ROLES[r.role][0], alpha=0.9, zorder=1)
            labels.append((r.label, 10 ** at, r.y, fontsize - 0.5, "level"))
            lines.append((list(ax.get_xlim()), [r.y, r.y]))
    return labels, points[["x", "y", "lo", "hi"]], lines


def _trace(xy, pt: float) -> list:
    """Boxes (display) every 3 points along a polyline given in display coordinates, for labels to keep clear of."""
    import numpy as np

    out = []
    for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:]):
        for f in np.linspace(0, 1, max(2, int(np.hypot(x1 - x0, y1 - y0) / (3 * pt))) + 1):
            x, y = x0 + f * (x1 - x0), y0 + f * (y1 - y0)
            out.append((x - pt, y - pt, x + pt, y + pt))
    return out


def _place(ax, labels: list, statics: pd.DataFrame, lines: list = ()) -> None:
    """Write each label at the first free spot near its point: right of it, left of it, then right (else left) of it
    one line further up or down at a time (a grey leader line once it left its point's level; points are labelled right to
    left, so that the leader lines of points set side by side climb like stairs and cross nothing); a level's label
    over its dotted line, at the widest empty stretch first. Free: clear of the labels and leader lines placed before,
    of every marker, CI bar and drawn line, inside the axes; where no spot is free, the least covered one.
    Deterministic."""
    import numpy as np

    if not labels:
        return
    to_disp, to_data, pt = ax.transData.transform, ax.transData.inverted().transform, ax.figure.dpi / 72
    renderer, frame = ax.figure.canvas.get_renderer(), ax.get_window_extent()
    xy = to_disp(statics[["x", "y"]].to_numpy(float))
    bars = [to_disp(np.c_[statics["x"], statics[k].fillna(statics["y"])].astype(float))[:, 1] for k in ("lo", "hi")]
    taken = [(x - 5 * pt, y - 5 * pt, x + 5 * pt, y + 5 * pt) for x, y in xy]  # markers
    taken += [(x - 2.5 * pt, lo, x + 2.5 * pt, hi) for (x, _), lo, hi in zip(xy, *bars)]  # CI bars
    taken += [b for xs, ys in lines for b in _trace(to_disp(np.c_[xs, ys]), pt)]

    def cover(b):  # area of box b under what is taken, plus anything outside the axes
        inside = max(0, min(b[2], frame.x1) - max(b[0], frame.x0)) * max(0, min(b[3], frame.y1) - max(b[1], frame.y0))
        over = sum(max(0, min(b[2], t[2]) - max(b[0], t[0])) * max(0, min(b[3], t[3]) - max(b[1], t[1])) for t in taken)
        return over + (b[2] - b[0]) * (b[3] - b[1]) - inside

    order = sorted(labels, key=lambda lb: (lb[4] != "level", -to_disp((lb[1], lb[2]))[0]))  # levels, then right to left
    for text, x, y, fs, kind in order:
        (px, py), t = to_disp((x, y)), ax.text(x, y, text, fontsize=fs, va="center", ha="left", zorder=5)
        bb = t.get_window_extent(renderer)
        w, h = bb.width, bb.height * 1.15
        if kind == "level":
            spots = [(ax0 - w / 2, py + s * (h / 2 + pt)) for ax0 in (px, *(frame.x0 + f * frame.width for f in
                     (0.5, 0.3, 0.7, 0.15, 0.85))) for s in (1, -1)]
        else:
            spots = [(px + 7 * pt, py), (px - 8 * pt - w, py)]
            spots += [(px + 7 * pt, py + s * k * h) for k in range(1, 14) for s in (1, -1)]
            spots += [(px - 8 * pt - w, py + s * k * h) for k in range(1, 14) for s in (1, -1)]
        boxes = [(sx, sy - h / 2, sx + w, sy + h / 2) for sx, sy in spots]
        best = min(range(len(boxes)), key=lambda i: (cover(boxes[i]) > 0, cover(boxes[i]), i))
        taken.append(boxes[best])
        sx, sy = spots[best]
        t.set_position(to_data((sx, sy)))
        if kind == "point" and abs(sy - py) > 0.6 * h:  # left its point's level: a leader line to the point
            end = (sx + (0 if sx > px else w), sy)
            ax.annotate("", (x, y), xytext=to_data(end),
                        arrowprops={"arrowstyle": "-", "color": "0.45", "lw": 0.6, "shrinkA": 0, "shrinkB": 4})
            taken += _trace([end, (px, py + np.sign(sy - py) * 5 * pt)], pt)


def _accuracy_axes(rows, table, task, ax, metric, router=None, fontsize=7.5):
    """`plot_accuracy_vs_tokens` and `plot_router`: axes and legend (outside, right), layout, points, labels."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.8), layout="constrained")
    ours, paper = _ours(rows, table, metric), _paper(table, task, metric)
    curve = pd.DataFrame((router or {}).get("test", []), columns=["tokens", "accuracy", "threshold", "pareto"])
    _frame(ax, [*ours["x"], *paper["x"], *curve["tokens"]], metric, fontsize)
    ax.set_title(panel_title(table, task) if table else "", fontsize=fontsize + 2)
    roles = set(ours["role"]) | ({ROUTER_KIND} if len(curve) else set())
    ax.legend(handles=_handles(roles, paper, router=not curve.empty), fontsize=fontsize,
              loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, title=LEGEND_TITLE,
              title_fontsize=fontsize)
    if ours.empty and paper.empty and curve.empty:
        ax.text(0.5, 0.5, "no finished row to plot", ha="center", va="center", transform=ax.transAxes)
    ax.figure.draw_without_rendering()  # lay out now: dodging and labels work in final display positions
    sweep = curve.sort_values("tokens").rename(columns={"tokens": "x", "accuracy": "y"}).assign(
        label=lambda d: [f"t={t:.2f}" for t in d["threshold"]], pareto=lambda d: d["pareto"].astype(bool),
        chosen=lambda d: d["threshold"] == (router or {}).get("chosen_threshold"))
    labels, statics, lines = _draw(ax, ours, paper, fontsize, sweep)
    _place(ax, labels, statics, lines)
    return ax


def plot_accuracy_vs_tokens(rows: list[dict], table: str = "", task: str = "", ax=None, metric: str = "accuracy"):
    """`metric` against mean generated tokens per input (log x): ours filled with 95% CI bars, maj@k points joined per
    system; the paper's numbers of `table`/`task` hollow (tokens known) or dotted (not); colour and shape by role."""
    return _accuracy_axes(rows, table, task, ax, metric)


def plot_router(rows: list[dict], router: dict, ax=None):
    """Accuracy against tokens per input (log x): the systems of the results table with CI bars, and the router's
    curve over its thresholds (t=...), Pareto-optimal thresholds filled, the dev-chosen one in the router's marker."""
    return _accuracy_axes([r for r in rows if not r["system"].startswith("Router")], "", "", ax, "accuracy",
                          router=router)


def plot_learning_curve(curve: list[dict], ax=None):
    """Accuracy (95% CI bars) of each distilled model against the kept training pairs it was trained on (log x), in
    its role's colour; the curves' bars are set a little apart so that none hides another."""
    import matplotlib.pyplot as plt
    from matplotlib.transforms import offset_copy

    df = pd.DataFrame([p for p in curve if p.get("status") == "ok"])
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
    if df.empty:
        ax.text(0.5, 0.5, "no learning-curve point (learning_curve is empty or the filter kept too few)", ha="center")
        ax.axis("off")
        return ax
    names = list(dict.fromkeys(df["curve"]))
    for n, (name, g) in enumerate((name, df[df["curve"] == name].sort_values("n_pairs")) for name in names):
        c, m = ROLES[role_of(name)]
        shift = offset_copy(ax.transData, fig=ax.figure, x=4 * (n - (len(names) - 1) / 2), units="points")
        ax.errorbar(g["n_pairs"], g["accuracy"], yerr=[g["accuracy"] - g["ci_low"], g["ci_high"] - g["accuracy"]],
                    color=c, marker=m, markersize=6, lw=1.2, capsize=3, transform=shift, label=name)
    ticks = sorted(df["n_pairs"].unique())
    ax.set_xscale("log")
    ax.set_xticks(ticks, labels=[str(n) for n in ticks])
    ax.minorticks_off()
    ax.set_xlim(ticks[0] / 1.4, ticks[-1] * 1.4)
    ax.grid(alpha=0.25, lw=0.6)
    ax.set_xlabel("kept training pairs (log)")
    ax.set_ylabel("accuracy % (test), 95% CI")
    ax.set_ylim(-3, 103)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return ax


def plot_model_sizes(exps_or_reports, ax=None):
    """Table 1 last-letter accuracy (95% CI bars) against model size (billions of parameters, log x) for System 1,
    2-step RaR, Distill 2-step RaR and the gold-label ceiling, one line per system across our runs (a reports folder:
    the notebook's run and the `--name`d ones, one per model; `sizes.size_runs`), in its role's colour; the paper's
    Llama-2-70B-chat points hollow where it gives them. None (nothing drawn) with fewer than two of our sizes."""
    runs, paper = size_runs(exps_or_reports), size_paper()
    if runs["size"].nunique() < 2:
        return None
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.transforms import offset_copy

    ax = plt.subplots(figsize=(8.5, 4.4), layout="constrained")[1] if ax is None else ax
    systems, handles = size_systems(), []
    for k, system in enumerate(systems):  # a system's points set a little apart, so that no bar hides another
        role = role_of(system, SIZE_TABLE)
        (c, m), g, p = ROLES[role], runs[runs["system"] == system], paper[paper["system"] == system]
        shift = offset_copy(ax.transData, fig=ax.figure, x=8 * (k - (len(systems) - 1) / 2), units="points")
        ax.errorbar(g["size"], g["y"], yerr=[g["y"] - g["lo"], g["hi"] - g["y"]], color=c, marker=m, markersize=7,
                    mec="white", mew=0.6, lw=1.3, capsize=3, transform=shift)
        if len(p):
            ax.scatter(p["size"], p["y"], s=60, marker=m, facecolor="none", edgecolor=c, lw=1.4, zorder=3,
                       transform=shift)
        if len(g) or len(p):
            word = {S2: " (System 2)", DISTILLED: " (distilled)", CEILING: ": the gold-label ceiling"}.get(role, "")
            handles.append(Line2D([], [], color=c, marker=m, lw=1.3, label=system + word))
    handles.append(Line2D([], [], ls="", marker="o", color="0.3", markersize=6, label="ours: filled, 95% CI bar"))
    handles += [Line2D([], [], ls="", marker="o", mfc="none", mec="0.2", markersize=7,
                       label=f"paper ({paper_numbers()['model']}): hollow")] if len(paper) else []
    first = runs.drop_duplicates("size")
    ticks = {s: f"{s:g}B\nn={n}" for s, n in zip(first["size"], first["n"])}
    ticks |= {s: f"{s:g}B\npaper" for s in paper["size"]}
    ax.set_xscale("log")
    ax.set_xticks(list(ticks), labels=list(ticks.values()))
    ax.minorticks_off()
    ax.set(xlim=(min(ticks) / 1.6, max(ticks) * 1.6), ylim=(-3, 103))
    ax.grid(alpha=0.25, lw=0.6)
    ax.set_xlabel("model size, billions of parameters (log); n: test inputs")
    ax.set_ylabel("accuracy % (test), 95% CI")
    ax.set_title(f"{panel_title(SIZE_TABLE, 'last_letter')} across model sizes")
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title=LEGEND_TITLE,
              title_fontsize=8, borderaxespad=0)
    return ax


def summary_figure(exps: pd.DataFrame):
    """One panel per finished paper task ('Table 1 · last-letter'): its table's metric against mean generated tokens,
    every row with k=1 (maj@k points are in the experiment's own report) coloured by role, the paper's numbers hollow or
    dotted; the legend takes the grid's last cell."""
    import math

    import matplotlib.pyplot as plt

    tables, panels = paper_numbers()["tables"], []
    for _, e in exps.iterrows():
        metric = tables[e.paper_table]["metric"]
        rows = [r for r in _metrics(e).get("rows", []) if (r.get("k") or 1) == 1]
        ours, paper = _ours(rows, e.paper_table, metric), _paper(e.paper_table, e.task, metric)
        if len(ours):
            panels.append((e.paper_table, e.task, metric, ours, paper))
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.text(0.5, 0.5, "no finished experiment yet", ha="center", va="center")
        ax.axis("off")
        return fig
    ncols = 2 if len(panels) + 1 == 4 else min(3, len(panels) + 1)
    nrows = math.ceil((len(panels) + 1) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.9 * nrows), layout="constrained", squeeze=False)
    axes = list(axes.flat)
    for ax, (table, task, metric, ours, paper) in zip(axes, panels):
        _frame(ax, [*ours["x"], *paper["x"]], metric, fontsize=6.5)
        ax.set_title(panel_title(table, task), fontsize=10, fontweight="bold")
    for spare in axes[len(panels):]:
        spare.axis("off")
    every = pd.concat([p[4] for p in panels])
    axes[-1].legend(handles=_handles({r for p in panels for r in p[3]["role"]}, every), loc="center", fontsize=8.5,
                    title=LEGEND_TITLE, title_fontsize=9, frameon=False)
    fig.draw_without_rendering()  # lay out now: dodging and labels work in final display positions
    for ax, (_, _, _, ours, paper) in zip(axes, panels):
        _place(ax, *_draw(ax, ours, paper, fontsize=6.5))
    return fig
