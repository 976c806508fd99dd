"""The study summary's tables and the index page, read from the recorded metrics (they recompute nothing)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..evaluate import metric_suffix
from ..paper import GOLD, paper_numbers, verdict_metric
from ..provenance import cpu_label
from .cells import _ci, _diff
from .tables import results_table
from .verdict_policy import judge, verdict


def experiments(reports: str | Path) -> pd.DataFrame:
    """One row per expected experiment (every paper table/task) with its status: ok / failed / not run."""
    reports = Path(reports)
    runs_file = reports / "runs.json"
    runs = {r["notebook"]: r for r in json.loads(runs_file.read_text())["results"]} if runs_file.exists() else {}
    rows = []
    for table, tasks in paper_numbers()["notebooks"].items():
        for task, nb in tasks.items():
            mfile = reports / f"{nb}.metrics.json"
            run = runs.get(nb, {})
            status = run.get("status") or ("ok" if mfile.exists() else "not run")
            if status == "ok" and not mfile.exists():
                status = "failed"
            m = json.loads(mfile.read_text()) if mfile.exists() and status == "ok" else None
            # a run resumed or re-rendered from its cache costs what all its sessions took, not the last command
            prov = (m or {}).get("provenance", {})
            wall = prov.get("sessions_wall_s") or run.get("wall_s", prov.get("wall_s"))
            rows.append({"notebook": nb, "paper_table": table, "task": task, "status": status,
                         "error": run.get("error"), "wall_s": wall, "metrics": m})
    return pd.DataFrame(rows)


def paper_notebooks() -> set[str]:
    """The notebooks that some paper table maps (paper_numbers.json)."""
    return {nb for tasks in paper_numbers()["notebooks"].values() for nb in tasks.values()}


def other_experiments(reports: str | Path) -> dict[str, dict]:
    """Recorded metrics of notebooks that no paper table maps (a user's own method or task), by notebook name."""
    records = {f.name.removesuffix(".metrics.json"): f for f in sorted(Path(reports).glob("*.metrics.json"))}
    return {name: json.loads(f.read_text()) for name, f in records.items() if name not in paper_notebooks()}


def other_results(record: dict) -> pd.DataFrame:
    """`results_table` of an experiment outside the paper's tables, on every metric its rows carry a CI for."""
    rows = [r for r in record["rows"] if r.get("status") == "ok"]
    plain = {"system", "status", "tokens", "n", "no_answer", "capped", "capped_inputs", "capped_samples", "k",
             "base_system", "threshold", "sent_pct", "outcomes", "vs_system1", "vs_system2", "vs_distilled"}
    metrics = [k for k in (rows[0] if rows else {}) if k not in plain and not k.startswith(("ci_", "n_"))
               and f"ci_low{metric_suffix(k)}" in rows[0]]
    return results_table(record["rows"], metrics=metrics or None)


def _metrics(e) -> dict:
    """An experiment row's recorded metrics ({} when not run or failed; pandas turns a missing dict into NaN)."""
    return e.metrics if isinstance(e.metrics, dict) else {}


def glance_table(exps: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment that ran: System 1, System 2, the distilled model and the gold-label ceiling on the
    table's verdict metric (% [95% CI], tokens), the distilled model's paired difference with System 1, its seed
    spread, the verdict's head word and the paper's System 1 / distilled numbers (labelled as the paper's)."""
    out = []
    for _, e in exps[exps.status == "ok"].iterrows():
        table, m = e.paper_table, _metrics(e)
        metric, role = verdict_metric(table), paper_numbers()["row_roles"][table]
        sfx = metric_suffix(metric)
        rows = {r["system"]: r for r in m.get("rows", []) if r.get("status") == "ok" and metric in r}
        paper = {r["system"]: r for r in paper_numbers()["tables"][table]["tasks"].get(e.task, [])}
        pmetric = paper_numbers()["tables"][table]["metric"]

        def cell(name, tokens=True):
            r = rows.get(name)
            if r is None:
                return ""
            return f"{r[metric]:.1f} {_ci(r[f'ci_low{sfx}'], r[f'ci_high{sfx}'])}" + (f", {r['tokens']:.0f} tok" if tokens else "")

        d = rows.get(role["distilled"], {})
        prov = m.get("provenance", {})
        out.append({"paper table": table.replace("table", ""), "task": e.task, "metric": metric,
                    "run": f"{prov.get('profile', '')}, {prov.get('n_test', '')} test / {prov.get('n_train', '')} train"
                           + (" judgments" if e.task == "pairwise_judge" else ""),
                    "System 1": cell(role["system1"]),
                    "System 2": f"{role['system2']}: {cell(role['system2'])}" if role["system2"] in rows else "",
                    "distilled": cell(role["distilled"]), "paired vs System 1": _paired_cell(d.get("vs_system1")) or "",
                    "seeds": _seed_cell(m.get("seeds", {}).get(role["distilled"])) or "1",
                    "gold-label ceiling": cell(GOLD, tokens=False),
                    "verdict": judge(m.get("rows", []), table).outcome,
                    f"paper's System 1 / distilled ({paper_numbers()['model']})": " / ".join(
                        "?" if paper.get(s, {}).get(pmetric) is None else f"{paper[s][pmetric]:g}"
                        for s in (role["system1"], role["distilled"])) + f" ({pmetric})"})
    return pd.DataFrame(out)


def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (the README's glance table is written from `glance_table`)."""
    cells = lambda row: "| " + " | ".join(str(v).replace("|", "/") for v in row) + " |"  # noqa: E731
    return "\n".join([cells(df.columns), cells(["---"] * len(df.columns)), *(cells(r) for r in df.itertuples(index=False))])


def comparison_table(exps: pd.DataFrame, table: str) -> pd.DataFrame:
    """Paper table `table`: per task and system, our metric with CI and tokens beside the paper's values."""
    spec = paper_numbers()["tables"][table]
    metric, model = spec["metric"], paper_numbers()["model"]
    out = []
    for _, e in exps[exps.paper_table == table].iterrows():
        ours = {r["system"]: r for r in _metrics(e).get("rows", [])}
        paper = {r["system"]: r for r in spec["tasks"].get(e.task, [])}
        lo, hi = f"ci_low{metric_suffix(metric)}", f"ci_high{metric_suffix(metric)}"
        for system in list(paper) + [s for s in ours if s not in paper]:
            r = ours.get(system, {})
            ok = r.get("status") == "ok"
            out.append({
                "task": e.task, "system": system,
                f"ours {metric} %": round(r[metric], 1) if ok and metric in r else None,
                "ours 95% CI": _ci(r[lo], r[hi]) if ok and lo in r else None,
                "ours tokens": round(r["tokens"], 1) if ok else None,
                "ours status": r.get("status", e.status if e.status != "ok" else "not in this experiment"),
                "ours vs System 1 (paired)": _paired_cell(r.get("vs_system1")),
                "ours training seeds": _seed_cell(_metrics(e).get("seeds", {}).get(system)),
                f"paper {metric} % ({model})": paper.get(system, {}).get(metric),
                f"paper tokens ({model})": paper.get(system, {}).get("tokens"),
            })
    return pd.DataFrame(out)


def _paired_cell(cmp) -> str | None:
    """A paired comparison for a table cell, naming its metric (Table 2's claim is read on known questions)."""
    return f"{_diff(cmp)} ({cmp['metric']})" if isinstance(cmp, dict) else None


def _seed_cell(summary) -> str | None:
    """'mean 55.0 (50.0-60.0) over 3 seeds; 3/3 beat System 1' from a metrics record's seed summary."""
    if not summary or len(summary.get("seeds", [])) < 2:
        return None
    n = len(summary["seeds"])
    return (f"mean {summary['mean']:.1f} ({summary['min']:.1f}-{summary['max']:.1f}) over {n} seeds"
            + ("; every seed beats System 1" if summary.get("every_seed_beats_system1") else ""))


def token_ratios(exps: pd.DataFrame) -> pd.DataFrame:
    """Per task: tokens of the distilled model / tokens of its System 2 teacher (ours and, where known, the paper's)."""
    roles, tables = paper_numbers()["row_roles"], paper_numbers()["tables"]
    out = []
    for _, e in exps.iterrows():
        role = roles[e.paper_table]
        ours = {r["system"]: r for r in _metrics(e).get("rows", []) if r.get("status") == "ok"}
        paper = {r["system"]: r for r in tables[e.paper_table]["tasks"].get(e.task, [])}

        def ratio(rows):
            s2, d = rows.get(role["system2"], {}).get("tokens"), rows.get(role["distilled"], {}).get("tokens")
            return round(d / s2, 3) if s2 and d else None

        out.append({"task": e.task, "System 2": role["system2"], "distilled": role["distilled"],
                    "ours: distilled / System 2 tokens": ratio(ours), "paper: distilled / System 2 tokens": ratio(paper),
                    "status": e.status})
    return pd.DataFrame(out)


def provenance_overview(exps: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, e in exps.iterrows():
        p = _metrics(e).get("provenance", {})
        rows.append({"notebook": e.notebook, "status": e.status, "error": e.error, "model": p.get("model_fingerprint"),
                     "profile": p.get("profile"), "n_train": p.get("n_train"), "n_test": p.get("n_test"),
                     "n_samples": p.get("n_samples"), "seed": p.get("seed"), "finished (UTC)": p.get("finished_utc"),
                     "wall s": e.wall_s, "stages s": p.get("stage_s"), "git": p.get("git_commit"),
                     "torch / transformers / peft": "/".join(str(p.get("packages", {}).get(k)) for k in ("torch", "transformers", "peft"))
                     if p else None})
    return pd.DataFrame(rows)


def headline_cells(e) -> str:
    """System 1 / System 2 / distilled: metric % [95% CI] and tokens per input, as <td> cells ('' when not run)."""
    import html

    spec, role = paper_numbers()["tables"][e.paper_table], paper_numbers()["row_roles"][e.paper_table]
    metric = spec["metric"]
    sfx = metric_suffix(metric)
    rows = {r["system"]: r for r in _metrics(e).get("rows", []) if r.get("status") == "ok"}
    cells = []
    for kind in ("system1", "system2", "distilled"):
        r = rows.get(role[kind])
        paired = _paired_cell(r.get("vs_system1")) if r is not None and kind == "distilled" else None
        cells.append("<td></td>" if r is None else
                     f"<td>{html.escape(role[kind])}: <b>{r[metric]:.1f}%</b> [{r[f'ci_low{sfx}']:.1f}, "
                     f"{r[f'ci_high{sfx}']:.1f}], {r['tokens']:.0f} tok"
                     + (f"<br><small>vs System 1, paired: {html.escape(paired)}</small>" if paired else "") + "</td>")
    return "".join(cells)


def _as_paper_run(record: dict):
    """A recorded run outside the notebooks' own names as an `experiments` row (paper_table, task, metrics) when its
    paper table maps its task (a run saved with `s2d run --name`), else None (your own task or method)."""
    from types import SimpleNamespace

    table, task = record.get("paper_table"), record.get("task")
    if task not in paper_numbers()["notebooks"].get(table, {}) or not record.get("rows"):
        return None
    return SimpleNamespace(paper_table=table, task=task, metrics=record)


def _duration(seconds: float) -> str:
    """12308 -> '3 h 25 min', 754 -> '12.6 min', 38 -> '38 s'."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {round(seconds % 3600 / 60):d} min"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def run_header(record: dict) -> str:
    """One line naming a run, for the top of its report: model, profile, sizes, seeds, dates, sittings and wall time,
    CPUs, commit (from the metrics record's provenance)."""
    prov, cfg = record.get("provenance", {}), record.get("config", {})
    sessions = prov.get("sessions") or [{"started_utc": prov.get("started_utc", ""), "wall_s": prov.get("wall_s", 0)}]
    days = sorted({str(s.get("started_utc", ""))[:10] for s in sessions} - {""})
    when = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}" if days else "?"
    wall = _duration(prov.get("sessions_wall_s") or sum(s.get("wall_s", 0) for s in sessions))
    cpus = list(dict.fromkeys(s["cpu"] for s in sessions if s.get("cpu")))
    if not cpus and prov.get("cpu"):
        cpus = [cpu_label(prov["cpu"])]
    cores = prov.get("cpu", {}).get("cores")
    sizes = ", ".join(f"{prov[k]} {w}" for k, w in (("n_train", "training"), ("n_test", "test"), ("n_dev", "dev"))
                      if prov.get(k))
    if sizes and prov.get("task") == "pairwise_judge":  # counted in judgments, each pair judged in both orders
        sizes = f"{sizes} judgments ({prov.get('n_train', 0) // 2} / {prov.get('n_test', 0) // 2} pairs in both orders)"
    elif sizes:
        sizes += " inputs"
    seeds = cfg.get("seeds") or [prov.get("seed", 0)]
    parts = [prov.get("model_fingerprint") or prov.get("model", "?"), f"engine {prov.get('engine') or 'hf'}",
             f"profile {prov.get('profile', '?')}", sizes,
             f"seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}",
             f"run {when} in {len(sessions)} sitting{'s' * (len(sessions) > 1)}, {wall} of wall time",
             f"{cores}-core CPU: " * bool(cores) + "; ".join(cpus) if cpus else "", f"git {prov.get('git_commit', '?')}"]
    return "Run: " + " · ".join(p for p in parts if p) + "."


def write_index(reports: str | Path) -> Path:
    """reports/index.html: every experiment report and the summary with status and run time; self-contained."""
    import html

    reports = Path(reports)
    exps = experiments(reports)
    runs_file = reports / "runs.json"
    meta = json.loads(runs_file.read_text()) if runs_file.exists() else {}
    summary = {r["notebook"]: r for r in meta.get("results", [])}.get("summary", {})
    def row(name: str, table: str, task: str, headline: str, status: str, error, wall_s, prov: dict,
            said: str = "") -> str:
        link = f'<a href="{name}.html">{name}</a>' if (reports / f"{name}.html").exists() else name
        err = f'<div class="err">{html.escape(error)}</div>' if isinstance(error, str) else ""
        wall = _duration(wall_s) if isinstance(wall_s, (int, float)) and pd.notna(wall_s) else ""
        n = prov.get("n_test", "")
        inputs = f"{n // 2} pairs ({n} judgments)" if task == "pairwise_judge" and isinstance(n, int) else n
        # runs before the engine was recorded used hf; a report not run has no run to describe
        ran = f'{prov.get("model", "")}, engine {prov.get("engine") or "hf"}, test inputs {inputs}' if prov else ""
        return (f'<tr><td>{link}</td><td>{table}</td><td>{html.escape(str(task))}</td>{headline}'
                f'<td class="verdict">{html.escape(said)}</td>'
                f'<td class="{status.replace(" ", "-")}">{status}{err}</td><td>{wall}</td>'
                f'<td>{html.escape(str(prov.get("profile", "")))}</td><td>{html.escape(ran)}</td></tr>')

    rows = [row(e.notebook, e.paper_table, e.task, headline_cells(e), e.status, e.error, e.wall_s,
                _metrics(e).get("provenance", {}), verdict(_metrics(e)["rows"], e.paper_table) if e.status == "ok" else "")
            for _, e in exps.iterrows()]
    for name, rec in other_experiments(reports).items():  # a named run of a paper task (`s2d run --name`, e.g. the
        e = _as_paper_run(rec)  # 0.5B model's last-letter) shows its headline cells and verdict; others have no roles
        rows.append(row(name, "your experiment", rec.get("task", ""), headline_cells(e) if e else "<td></td>" * 3, "ok",
                        None, rec.get("provenance", {}).get("wall_s"), rec.get("provenance", {}),
                        verdict(rec["rows"], e.paper_table) if e else ""))
    s_status = summary.get("status", "ok" if (reports / "summary.html").exists() else "not run")
    s_link = '<a href="summary.html">summary</a>' if (reports / "summary.html").exists() else "summary"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>s2d reports</title><style>
body{{font-family:sans-serif;margin:2em;max-width:90em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:.3em .8em}}
.ok{{color:#080}} .failed{{color:#b00}} .not-run{{color:#888}} .err{{font-size:.8em;color:#b00}}
.verdict{{font-size:.8em;max-width:40em}}</style></head><body>
<h1>s2d: Distilling System 2 into System 1 — reports</h1>
<p>Profile: <b>{html.escape(str(meta.get("profile", "?")))}</b>. Study summary (our tables beside the paper's): {s_link}
(<span class="{s_status.replace(" ", "-")}">{s_status}</span>).</p>
<p>The paper: <a href="https://arxiv.org/abs/2407.06023">Yu et al. 2024, arXiv:2407.06023</a> (Llama-2-70B-chat; its
numbers sit beside ours in each report and in the summary).</p>
<table><thead><tr><th>report</th><th>paper table</th><th>task</th><th>System 1</th><th>System 2</th><th>distilled</th>
<th>verdict</th><th>status</th><th>run time</th><th>profile</th><th>model</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table></body></html>"""
    out = reports / "index.html"
    out.write_text(page, encoding="utf-8")
    return out
