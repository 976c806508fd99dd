"""`s2d run`: validate every notebook's parameters, execute the notebooks with papermill, render HTML with nbconvert."""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
import traceback
from pathlib import Path

from .config import (FIELDS, ExperimentConfig, allowed_values, load_profile, parse_value, profile_blocks,
                     profile_covers, profile_names)
from .provenance import THP, transparent_hugepage
from .report import run_header, write_index

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"


SUMMARY = "summary"  # run last; reads the experiments' recorded metrics


def notebook_names() -> list[str]:
    """The experiment notebooks (every notebook but the summary)."""
    return sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb") if p.stem != SUMMARY)


def parse_set(items: list[str]) -> dict:
    """`--set key=value` pairs, each value read as its field's type (`config.parse_value`; a profile's go through it
    too): n_samples=8 -> 8, lr=1e-3 -> 0.001, greedy_rephrase=true -> True, prompt_suffix=yes -> "yes"."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected key=value")
        k, v = item.split("=", 1)
        out[k.strip()] = parse_value(k.strip(), v)
    return out


def plan(profile: str, only: list[str] | None, overrides: dict, reports: Path,
         name_as: str | None = None) -> list[tuple[str, dict]]:
    """(notebook, parameters) for each selected notebook, all validated before anything runs. `name_as`: one
    notebook's run saved under the user's experiment name (its report, metrics and run folder), not the notebook's."""
    names = notebook_names()
    if name_as is not None and (not only or len(only) != 1 or not re.fullmatch(r"[A-Za-z0-9][\w.-]{0,63}", name_as)
                                or name_as in names):
        raise ValueError(f"--name {name_as!r}: allowed values are names of letters, digits, '_', '.', '-' (not a "
                         "notebook's name), with exactly one notebook given by --only")
    for n in only or []:
        if n not in names:
            raise ValueError(f"--only {n!r}: allowed values are {', '.join(names)}")
    for n in profile_blocks(profile):  # a misspelt block would silently leave its notebook on the defaults
        if n not in names:
            raise ValueError(f"profile {profile!r} has parameters for notebook {n!r}: allowed values are {', '.join(names)}")
    covers = profile_covers(profile)  # None: every notebook (a partial profile names its notebooks)
    for n in only or []:
        if covers is not None and n not in covers:
            raise ValueError(f"--only {n!r}: profile {profile!r} covers only {', '.join(covers)}")
    ExperimentConfig.check_names(overrides)
    jobs = []
    for name in only or [n for n in names if covers is None or n in covers]:
        # what papermill injects after the parameters cell: the notebook builds its config from these, the profile's
        # values and its cell's own (`ExperimentConfig.for_notebook`); the same config is checked here, before any model
        params = {"profile": profile, **overrides, **({"experiment_name": name_as} if name_as else {})}
        notebook_config(name, params).check_inputs()  # one clear line on a bad value
        out = name_as or name  # the report's name: the notebook's, or the user's own experiment name
        jobs.append((name, {**params, "metrics_path": str(reports / f"{out}.metrics.json")}))
    return jobs


def notebook_config(name: str, injected: dict) -> ExperimentConfig:
    """The config notebook `name` builds when papermill injects `injected` after its parameters cell."""
    return ExperimentConfig.for_notebook(name, {**notebook_parameters(name), **injected})


def notebook_parameters(name: str) -> dict:
    """The names assigned in a notebook's `parameters` cell, with their default values (None where not a literal)."""
    import ast

    import papermill as pm

    def value(code: str):
        try:
            return ast.literal_eval(code)
        except (ValueError, SyntaxError):
            return None

    return {k: value(p["default"]) for k, p in pm.inspect_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb")).items()}


def collapse_progress(nb) -> None:
    """Keep what a terminal would show of progress bars. Each tqdm redraw is stored as its own stream output
    without a newline; a redraw replaces the unfinished last line, as a carriage return does on a terminal."""
    for cell in nb.cells:
        merged: list[dict] = []
        for out in cell.get("outputs", []):
            prev = merged[-1] if merged else None
            if prev is not None and out.get("output_type") == "stream" and prev.get("output_type") == "stream" \
                    and prev.get("name") == out.get("name"):
                text, new = prev["text"], out["text"].rsplit("\r", 1)[-1]
                if not (text.endswith("\n") or new.startswith("\n")):  # a redraw: drop the unfinished line
                    text = text[: text.rfind("\n") + 1]
                prev["text"] = text + new
            else:
                merged.append(out)
        if "outputs" in cell:
            cell["outputs"] = merged


def _parameters_markdown(cell) -> str:
    """papermill's injected parameters (the profile, --set values) as a folded table (paths relative to the repository)."""
    import ast
    import html

    rows = []
    for node in ast.parse(cell["source"]).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            value = ast.literal_eval(node.value)
            rows.append(f"<tr><td><code>{node.targets[0].id}</code></td><td><code>{html.escape(repr(value))}</code></td></tr>")
    return ("<details><summary><b>Parameters of this run</b> (injected by <code>s2d run</code>: the profile and your "
            "--set values; the profile supplies every other parameter, <code>s2d params --profile NAME</code> lists them; "
            "the LoRA recipe a search chose is in the distillation section)</summary>\n<table><tr><th>parameter</th>"
            "<th>value</th></tr>" + "".join(rows) + "</table></details>")


NOISE = re.compile(r"^\s*\{'(?:loss|train_runtime|grad_norm|learning_rate|epoch)'|\d+/\d+ \[[^\]]*(?:it/s|s/it|\?it)")


def drop_noise(nb) -> None:
    """No stderr (warnings, progress bars) and no training-log dicts or progress lines in a report: the run's own logs
    keep them (the adapter folders' s2d_train.json, the runner's terminal)."""
    for cell in nb.cells:
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                if out.get("name") == "stderr":
                    continue
                out["text"] = "".join(line for line in out["text"].splitlines(keepends=True) if not NOISE.search(line))
                if not out["text"].strip():
                    continue
            kept.append(out)
        if "outputs" in cell:
            cell["outputs"] = kept


def for_reading(nb) -> None:
    """Shape an executed notebook into a report: the title, the results section (the verdict and the table beside the
    paper's numbers), then the parameters once, folded (the notebook's own defaults dropped), then the stages; code
    hidden by the exporter."""
    import nbformat

    cells = nb.cells
    params = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    injected = [i for i, c in enumerate(cells) if "injected-parameters" in c.metadata.get("tags", [])]
    folded = nbformat.v4.new_markdown_cell(_parameters_markdown(cells[injected[0]])) if injected else None
    for i in sorted(params + injected if injected else [], reverse=True):
        del cells[i]
    heads = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## ")]
    start = next((i for i in heads if cells[i].source.removeprefix("## ").startswith("Results")), None)
    at = heads[0] if heads else len(cells)
    if start is not None and heads and start != heads[0]:
        end = next((i for i in heads if i > start), len(cells))
        section = cells[start:end]
        del cells[start:end]
        cells[heads[0]:heads[0]] = section  # before the first stage: a reader sees the answer, then how it was reached
        at = heads[0] + len(section)
    if folded is not None:
        cells.insert(at, folded)


def render_html(executed: Path, html: Path, record: dict | None = None) -> None:
    """The executed notebook as a page to read: no code, no noise, no machine paths, the nav bar on top and, given
    the run's metrics `record`, a line naming the run (`stamp_run`)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    collapse_progress(nb)
    nbformat.write(nb, executed)
    outside = _outside_folders(nb)
    drop_noise(nb)
    for_reading(nb)
    body, _ = HTMLExporter(embed_images=True, exclude_input=True, exclude_input_prompt=True,
                           exclude_output_prompt=True).from_notebook_node(nb)
    for root in (str(ROOT) + "/", str(ROOT)):  # no machine paths in a report: relative to the repo ...
        body = body.replace(root, "")
    for folder in outside:  # ... or to the folder a run dir outside it was given in (shown as ".../runs")
        body = body.replace(folder + "/", ".../")
    body = body.replace("<body", NAV_STYLE + "<body", 1)
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + NAV, body, count=1)
    html.write_text(body.replace(str(Path.home()), "~"), encoding="utf-8")
    if record:
        stamp_run(html, record)


def stamp_run(html: Path, record: dict) -> None:
    """Put (or replace) the line naming the run (`report.run_header`) under a report's nav bar, and the page style
    of this version (pages rendered before it get it too)."""
    import html as escape

    page = re.sub(r'<p class="s2d-run">.*?</p>', "", html.read_text(encoding="utf-8"), flags=re.S)
    page = re.sub(r'<style(?: id="s2d-style")?>\.s2d-nav\{.*?</style>', "", page, count=1, flags=re.S)
    line = f'<p class="s2d-run">{escape.escape(run_header(record))}</p>'
    page = page.replace("<body", NAV_STYLE + "<body", 1).replace("</nav>", "</nav>" + line, 1)
    html.write_text(page, encoding="utf-8")


def stamp_runs(reports: Path) -> int:
    """`stamp_run` on every report of `reports` that has its metrics beside it; returns how many."""
    pages = [(h, m) for h in sorted(reports.glob("*.html")) if (m := h.with_suffix(".metrics.json")).exists()]
    for page, metrics in pages:
        stamp_run(page, json.loads(metrics.read_text()))
    return len(pages)


# Every page links back: the profile's index and summary (same folder) and the paper.
NAV = ('<nav class="s2d-nav"><a href="index.html">index</a> · <a href="summary.html">summary</a> · '
       '<a href="https://arxiv.org/abs/2407.06023">the paper (arXiv:2407.06023)</a></nav>')
# Printed text (a verdict, a note) wraps between words and reads as prose, not as code.
NAV_STYLE = ('<style id="s2d-style">.s2d-nav{font-family:sans-serif;padding:.5em 1em;background:#f3f3f3;'
             "border-bottom:1px solid #ccc} .s2d-run{font-family:sans-serif;font-size:.85em;color:#444;margin:.5em 1em}"
             " .jp-RenderedText pre{font-family:sans-serif;word-break:normal;overflow-wrap:break-word}</style>")


def _outside_folders(nb) -> list[str]:
    """Parent folders of the absolute paths outside the repo that `s2d run` injected (run_dir=/tmp/x/runs: /tmp/x),
    longest first."""
    import ast

    folders = set()
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                    value = node.value.value
                    if isinstance(value, str) and value.startswith("/") and not value.startswith(str(ROOT)):
                        folders.add(str(Path(value).parent))
    return sorted(folders, key=len, reverse=True)


def _ipc_kernel_manager():
    """A kernel manager on local IPC sockets in a private temp folder: no TCP port opened, and no kernel warning about
    TCP without encryption in every run's log."""
    import atexit
    import shutil
    import tempfile

    from jupyter_client import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            folder = tempfile.mkdtemp(prefix="s2d-kernel-")
            atexit.register(shutil.rmtree, folder, True)
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", str(Path(folder) / "kernel"))
            super().__init__(**kwargs)

    return IPCKernelManager


def run_one(name: str, params: dict, reports: Path, profile: str) -> dict:
    """Execute one notebook into reports/<out>.ipynb and render reports/<out>.html, where <out> is the notebook's name
    or the user's experiment name (`experiment_name`); never raises."""
    import papermill as pm

    out = params.get("experiment_name") or name
    executed, html = reports / f"{out}.ipynb", reports / f"{out}.html"
    t0 = time.time()
    status = {"notebook": out, "profile": profile, "status": "ok", "error": None}
    try:
        pm.execute_notebook(NOTEBOOK_DIR / f"{name}.ipynb", executed, parameters=params, cwd=str(ROOT),
                            kernel_name="python3", progress_bar=True, log_output=False,
                            kernel_manager_class=_ipc_kernel_manager())
    except Exception as e:  # papermill wraps the cell's error; keep its last line for the summary
        status.update(status="failed", error=(str(e).strip().splitlines() or [repr(e)])[-1][:300])
    finally:
        status["wall_s"] = round(time.time() - t0, 1)
        metrics = Path(params.get("metrics_path") or executed.with_suffix(".metrics.json"))
        record = json.loads(metrics.read_text()) if status["status"] == "ok" and metrics.exists() else None
        if executed.exists():
            try:
                render_html(executed, html, record)
            except Exception:  # a failed render must not hide the run's own status
                status["render_error"] = traceback.format_exc(limit=1).splitlines()[-1]
    return status


def record_runs(reports: Path, profile: str, results: list[dict]) -> None:
    """Merge these results into reports/runs.json (a run of some notebooks keeps the others' last status)."""
    path = reports / "runs.json"
    old = json.loads(path.read_text()).get("results", []) if path.exists() else []
    merged = {r["notebook"]: r for r in old} | {r["notebook"]: r for r in results}
    path.write_text(json.dumps({"profile": profile, "results": list(merged.values())}, indent=1))


GLANCE = ("<!-- glance:start (written by `s2d report` from reports/power; do not edit) -->", "<!-- glance:end -->")


def update_readme(reports: Path, readme: Path | None = None) -> bool:
    """Write the README's results-at-a-glance table (between the GLANCE markers) from a reports folder's metrics, so
    it cannot drift from the committed runs. Only the study's folder (reports/power) writes it; False otherwise."""
    from .report import experiments, glance_table, markdown_table, size_table, system15_finding, system15_table

    readme = readme or ROOT / "README.md"
    if reports.resolve() != default_reports("power").resolve() and readme == ROOT / "README.md":
        return False
    text = readme.read_text()
    if GLANCE[0] not in text or GLANCE[1] not in text:
        return False
    head, rest = text.split(GLANCE[0], 1)
    tail = rest.split(GLANCE[1], 1)[1]
    exps = experiments(reports)
    table = markdown_table(glance_table(exps))
    sizes, system15 = size_table(reports), system15_table(exps)
    if len(sizes) > 1:  # beyond the paper: the same Table 1 run on other model sizes (issue 41)
        table += ("\n\nBeyond the paper, Table 1 last-letter across model sizes (accuracy % [95% CI]; the summary's "
                  "figure):\n\n" + markdown_table(sizes))
    if not system15.empty:  # beyond the paper: the shortest self-consistent chain of thought distilled (issue 41)
        table += ("\n\nBeyond the paper, Table 5 GSM8K with System 1.5, the shortest self-consistent chain of thought "
                  "distilled (accuracy % [95% CI], generated tokens per problem over all k samples):\n\n"
                  + markdown_table(system15) + "\n\n" + system15_finding(exps))
    readme.write_text(f"{head}{GLANCE[0]}\n{table}\n{GLANCE[1]}{tail}")
    return True


def cmd_report(reports: Path) -> int:
    if not reports.is_dir():
        print(f"s2d: error: --reports {str(reports)!r} is not a directory", file=sys.stderr)
        return 2
    runs = reports / "runs.json"
    profile = json.loads(runs.read_text()).get("profile", "?") if runs.exists() else "?"
    r = run_one(SUMMARY, {"reports_dir": str(reports.resolve())}, reports, profile)
    record_runs(reports, profile, [r])
    print(f"{SUMMARY}: {r['status']}" + (f" -- {r['error']}" if r["error"] else ""), f"; index: {write_index(reports)}"
          + f"; run lines on {stamp_runs(reports)} reports"
          + ("; README glance table rewritten" if update_readme(reports) else ""))
    return 0 if r["status"] == "ok" else 1


def default_reports(profile: str) -> Path:
    """Where a profile's reports go unless --reports says otherwise: reports/<profile>/, so a run of one profile (the
    main job, a plumbing check, a failed start) never rewrites another's; the study's reports are reports/power/."""
    return ROOT / "reports" / profile


def cmd_params(profile: str | None) -> int:
    """Print every parameter of ExperimentConfig with its type, default, allowed values and help (all from the field
    metadata); with a profile, its values where they differ from the default (per notebook where its block differs)."""
    try:
        given = {nb: load_profile(profile, nb) for nb in ("", *profile_blocks(profile))} if profile else {}
    except ValueError as e:
        print(f"s2d: error: {e}", file=sys.stderr)
        return 2
    print("Parameters (s2d run --set NAME=VALUE, or a profile in s2dlib/profiles/): name: type = default; allowed "
          "values")
    for name, f in FIELDS.items():
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        base = given.get("", {}).get(name, default)
        shown = [f"{profile}: {base!r}"] if base != default else []
        shown += [f"{profile}/{nb}: {v[name]!r}" for nb, v in given.items() if nb and v.get(name, base) != base]
        print(f"{name}: {f.type} = {default!r}; allowed: {allowed_values(f)}" + "".join(f"; {s}" for s in shown))
        print(f"    {f.metadata['help']}")
    return 0


def thp_note(mode: str | None) -> str | None:
    """A one-line hint when the kernel's transparent-huge-page mode slows CTranslate2 down (docs/engines.md)."""
    if mode in (None, "always"):
        return None
    return (f"s2d: note: transparent huge pages are '{mode}' on this machine; on a CPU, CTranslate2 then spends much "
            f"of its time in the kernel zeroing fresh 4 kB pages. As root, `echo always > {THP}` made it ~1.4x faster "
            "(docs/engines.md)")


def cmd_run(args) -> int:
    reports = Path(args.reports) if args.reports else default_reports(args.profile)
    try:
        jobs = plan(args.profile, args.only, parse_set(args.set), reports, args.name)
    except (ValueError, FileNotFoundError, ModuleNotFoundError) as e:
        print(f"s2d: error: {e}", file=sys.stderr)
        return 2
    if note := thp_note(transparent_hugepage()):
        print(note, file=sys.stderr)
    reports.mkdir(parents=True, exist_ok=True)
    jobs.append((SUMMARY, {"reports_dir": str(reports.resolve())}))
    results = []
    for i, (name, params) in enumerate(jobs, 1):
        print(f"[{i}/{len(jobs)}] {name} (profile {args.profile}) ...", flush=True)
        results.append(run_one(name, params, reports, args.profile))
        r = results[-1]
        print(f"[{i}/{len(jobs)}] {name}: {r['status']} in {r['wall_s']} s" + (f" -- {r['error']}" if r["error"] else ""), flush=True)
        record_runs(reports, args.profile, [r])
        if name != SUMMARY:  # keep the index current while a long batch runs
            write_index(reports)
    write_index(reports)
    update_readme(reports)
    failed = [r["notebook"] for r in results if r["status"] != "ok"]
    print(f"s2d: {len(results) - len(failed)} ok, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def cmd_archive(args) -> int:
    """Archive each selected run's generations for committing (`pipeline.archive`)."""
    from .pipeline import archive

    names = notebook_names()
    try:
        if not args.only or any(n not in names for n in args.only):
            raise ValueError(f"--only {args.only!r}: allowed values are {', '.join(names)}")
        if args.name and len(args.only) != 1:
            raise ValueError(f"--name {args.name!r}: allowed with exactly one notebook given by --only")
        for nb in args.only:
            cfg = notebook_config(nb, {"profile": args.profile, **parse_set(args.set), "experiment_name": args.name})
            a = archive(cfg, args.name or nb)
            print(f"{args.name or nb}: {a['added']} completions and {a['trainings']} training records added to "
                  f"{a['folder']} ({a['total']} completions in all" + (f"; new chunk {a['chunk'].name})" if a["chunk"] else ")"))
    except ValueError as e:
        print(f"s2d: error: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="s2d", description="System 2 distillation study runner")
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="execute notebooks under a profile and render HTML reports")
    run.add_argument("--profile", default="quick", help=f"one of: {', '.join(profile_names())} (default quick)")
    run.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these notebooks (default: all)")
    run.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                     help="override a parameter for every notebook (repeatable: --set a=1 --set b=2)")
    run.add_argument("--reports", default=None, help="where executed notebooks and HTML go (default: "
                                                     "reports/<profile>/)")
    run.add_argument("--name", default=None, help="save one notebook's run (--only) under your experiment's name, e.g. "
                                                  "a run on your own data (task=qa); listed in the index as yours")
    rep = sub.add_parser("report", help="rebuild the summary and index from the metrics already in the reports dir")
    rep.add_argument("--reports", default=str(default_reports("power")), help="a profile's reports dir (default: the "
                                                                           "study's, reports/power/)")
    arc = sub.add_parser("archive", help="copy runs' generations and session logs to data/generations/<profile>/<name>/"
                                         " for committing: a run that outlasts one machine resumes from them on the next")
    arc.add_argument("--profile", default="quick", help=f"one of: {', '.join(profile_names())} (default quick)")
    arc.add_argument("--only", nargs="+", required=True, metavar="NOTEBOOK", help="the runs' notebooks")
    arc.add_argument("--name", default=None, help="the run's experiment name, if it was run with --name")
    arc.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                     help="the run's --set values where they move it (run_dir, data_dir, train_file)")
    sub.add_parser("list", help="list notebooks and profiles")
    par = sub.add_parser("params", help="list every parameter with its type, default, allowed values and help")
    par.add_argument("--profile", default=None, help="also show this profile's values where they differ from the "
                                                     "default")
    args = ap.parse_args(argv)
    if args.cmd == "list":
        print("notebooks:", ", ".join(notebook_names()))
        print("profiles:", ", ".join(profile_names()))
        return 0
    if args.cmd == "report":
        return cmd_report(Path(args.reports))
    if args.cmd == "params":
        return cmd_params(args.profile)
    if args.cmd == "archive":
        return cmd_archive(args)
    return cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
