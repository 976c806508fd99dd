"""Table 1 last-letter across model sizes (issue 41): every recorded run of it in a reports folder, the notebook's own
and any saved under a name (`s2d run --name`, e.g. `rar_last_letter_0.5b` on the 0.5B model), one per model, with the
model's size in billions of parameters; and the command that adds the 0.5B run. `figures.plot_model_sizes` draws it."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from ..paper import GOLD, paper_numbers
from .cells import _ci
from .pages import experiments, other_experiments

SIZE_TABLE, SIZE_TASK = "table1", "last_letter"
# billions of parameters of the packaged models (s2dlib/models.py) and of the paper's model; other names are read
# from a size in the name ('Qwen2.5-7B-Instruct', 'org/model-135m'), else left out of the figure
MODEL_SIZES = {"qwen2.5-coder-0.5b-instruct": 0.5, "qwen2.5-coder-1.5b-instruct": 1.5, "smollm2-135m-instruct": 0.135,
               "Llama-2-70B-chat": 70.0}
SIZE_RUN = "rar_last_letter_0.5b"  # the 0.5B run's name in the study's reports (README, "How to run")


def size_command(reports: str | Path | None = None) -> str:
    """The command that adds the 0.5B run to a reports folder (its profile read from the folder's runs.json)."""
    runs = Path(reports) / "runs.json" if reports is not None else None
    profile = json.loads(runs.read_text()).get("profile", "power") if runs is not None and runs.exists() else "power"
    return (f"s2d run --profile {profile} --only rar_last_letter --name {SIZE_RUN} "
            "--set model=qwen2.5-coder-0.5b-instruct")


def model_size(name: str | None) -> float | None:
    """Billions of parameters of a model name: `MODEL_SIZES`, else a size in the name ('7B', '135m'); None if neither."""
    if not name:
        return None
    if name in MODEL_SIZES:
        return MODEL_SIZES[name]
    m = re.search(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)([bm])(?![a-z])", Path(name).name.lower())
    return None if m is None else float(m.group(1)) / (1000 if m.group(2) == "m" else 1)


def size_systems() -> list[str]:
    """The rows the figure draws, in role order: System 1, System 2, the distilled model, the gold-label ceiling."""
    role = paper_numbers()["row_roles"][SIZE_TABLE]
    return [role["system1"], role["system2"], role["distilled"], GOLD]


def _records(exps_or_reports) -> list[tuple[str, dict]]:
    """(run name, metrics) of every finished Table 1 last-letter run: of a reports folder (the notebook's run and the
    named ones), of an `experiments` frame, or of a list of metrics records."""
    key = (SIZE_TABLE, SIZE_TASK)
    if isinstance(exps_or_reports, (str, Path)):
        named = other_experiments(exps_or_reports)
        return _records(experiments(exps_or_reports)) + _records([{**v, "experiment": k} for k, v in named.items()])
    if isinstance(exps_or_reports, pd.DataFrame):
        return [(e.notebook, e.metrics) for e in exps_or_reports.itertuples()
                if e.status == "ok" and isinstance(e.metrics, dict) and (e.paper_table, e.task) == key]
    return [(m.get("experiment", ""), m) for m in exps_or_reports if (m.get("paper_table"), m.get("task")) == key]


def size_runs(exps_or_reports) -> pd.DataFrame:
    """One row per model and system: run, model, size (B), n (test inputs), system, accuracy y with its 95% CI lo/hi.
    Of several runs of one model the one with more test inputs (then the later finished) is kept."""
    cols = ["run", "model", "size", "n", "system", "y", "lo", "hi"]
    best: dict[str, tuple] = {}
    for name, m in _records(exps_or_reports):
        prov = m.get("provenance", {})
        model = prov.get("model") or m.get("config", {}).get("model") or prov.get("model_fingerprint", "").split("@")[0]
        rows = {r["system"]: r for r in m.get("rows", []) if r.get("status") == "ok" and r.get("accuracy") is not None}
        size = model_size(model)
        if size is None or not rows:
            continue
        n = max(r.get("n") or 0 for r in rows.values())
        key = (n, prov.get("finished_utc") or "")
        if model not in best or key > best[model][0]:
            best[model] = (key, name, size, n, rows)
    out = [(name, model, size, n, s, r["accuracy"], r.get("ci_low"), r.get("ci_high"))
           for model, (_, name, size, n, rows) in best.items() for s in size_systems() if (r := rows.get(s))]
    return pd.DataFrame(out, columns=cols).sort_values(["size", "system"], ignore_index=True)


def size_paper() -> pd.DataFrame:
    """The paper's points of the figure's systems (Table 1 last-letter) at its model's size: system, size, y."""
    rows = paper_numbers()["tables"][SIZE_TABLE]["tasks"].get(SIZE_TASK, [])
    size = model_size(paper_numbers()["model"])
    return pd.DataFrame([(r["system"], size, r["accuracy"]) for r in rows
                         if r["system"] in size_systems() and r.get("accuracy") is not None],
                        columns=["system", "size", "y"])


def size_table(exps_or_reports) -> pd.DataFrame:
    """The figure's numbers: one row per model (size, model, run, test inputs), one 'accuracy [95% CI]' column per
    system."""
    runs = size_runs(exps_or_reports)
    runs["cell"] = [f"{r.y:.1f} {_ci(r.lo, r.hi)}".strip() for r in runs.itertuples()]
    wide = runs.pivot_table(index=["size", "model", "run", "n"], columns="system", values="cell", aggfunc="first")
    return wide.reindex(columns=[s for s in size_systems() if s in wide.columns]).reset_index().rename(
        columns={"size": "size (B params)", "n": "test inputs"}).rename_axis(columns=None)
