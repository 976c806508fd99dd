"""One experiment, stage by stage: data -> System 2 generation -> label-free filter -> LoRA distillation -> evaluation.

Every notebook drives an `Experiment`; everything it computes is cached under `runs/<profile>/<name>/`, so a
rerun (after a crash, Ctrl-C or kill) only does the work that is missing.
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import route
from .cache import CachedEngine, CompletionCache
from .config import ExperimentConfig
from .distill import run_key, train_lora_isolated, trained_record
from .engines import EngineSlot, resolve_engine
from .engines.base import Sampling
from .evaluate import accuracy_row, maj_at_k, paired_difference, rate, step_diagnostics
from .filters import FilterResult, build_filter, filter_stats
from .methods import MethodOutput, build_method
from .methods.base import user
from .paper import GOLD, roles, verdict_metric
from .provenance import environment, git_commit
from .tasks import Example, check_disjoint, save_examples, source_of

NOT_TRAINED = "not run: no distilled model (the filter kept no example)"


class Experiment:
    def __init__(self, cfg: ExperimentConfig, name: str):
        self.cfg, self.name = cfg, name
        self.dir = Path(cfg.run_dir) / cfg.profile / name
        self.task = cfg.make_task()
        self.cache = CompletionCache(self.dir / "generations.jsonl")
        self.cache.on_put = self._log_session  # a killed session still counts the chunks it finished
        self.timings: dict[str, float] = {}
        self._running: dict[str, float] = {}  # stages under way: their start (perf_counter)
        self.started = datetime.now(timezone.utc)
        self.git = git_commit()  # the code this session imported; a commit made while it runs is not it
        self.engines = EngineSlot(cfg, self.cache)
        self.train: list[Example] = []
        self.test: list[Example] = []
        self.shots: list[Example] = []  # few-shot demonstrations (labelled), cut from the training pool
        self.dev: list[Example] = []  # labelled, outside training and test: where the router's threshold is chosen
        self.filters: list[dict] = []
        self.trainings: list[dict] = []
        self.rows: list[dict] = []
        self.outputs: dict[str, MethodOutput] = {}  # evaluation outputs by system, for inspection in the notebook
        self.curve: list[dict] = []  # learning-curve points: accuracy of a distilled model by training pairs
        self.router: dict = {}  # the confidence router's sweep (evaluate_router)
        self.variants: list[dict] = []  # prompt-variant rows (evaluate_variants)
        self.known: dict[str, list[int]] = {}  # metric subsets decided by a reference system's outcomes (known_subset)
        self.lora = cfg.lora()  # the LoRA recipe of the final adapters (choose_recipe may replace it)
        self.recipe: dict = {"chosen_by": "profile (not tuned)", **{k: getattr(self.lora, k) for k in ("lr", "epochs")}}

    @contextmanager
    def stage(self, name: str):
        """Time a stage (accumulated over calls) for the report's stage-by-stage wall times."""
        t0 = self._running[name] = time.perf_counter()
        try:
            yield
        finally:
            del self._running[name]
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0
            self._log_session()

    def _session(self) -> dict:
        """This session's entry in the run directory's log: when, how long per stage, how much was generated."""
        now, clock = datetime.now(timezone.utc), time.perf_counter()
        stages = dict(self.timings)
        for name, t0 in self._running.items():
            stages[name] = stages.get(name, 0.0) + clock - t0
        return {"started_utc": self.started.isoformat(timespec="milliseconds"), "last_utc": now.isoformat(timespec="seconds"),
                "wall_s": round((now - self.started).total_seconds(), 1),
                "stage_s": {k: round(v, 1) for k, v in stages.items()},
                "completions_generated": self.cache.added, "completions_reused": self.cache.reused,
                "git_commit": self.git}

    def _log_session(self) -> list[dict]:
        """Rewrite `sessions.json` in the run directory with this session's entry, updated after every stage and every
        stored chunk of completions, so a run that is stopped and resumed (or re-rendered from its cache) still reports
        what each session cost."""
        path, me = self.dir / "sessions.json", self._session()
        past = [e for e in (json.loads(path.read_text()) if path.exists() else []) if e["started_utc"] != me["started_utc"]]
        _write_json(path, past + [me])
        return past + [me]

    # ---- data -------------------------------------------------------------------------------------------------
    def load_data(self) -> tuple[list[Example], list[Example]]:
        """Generated (seeded) splits, or the user's files; written to data/ so the run can be inspected.

        With n_shots > 0 the first n_shots training examples become the few-shot demonstrations and leave the
        (unlabeled) training pool, which keeps n_train inputs. With n_dev > 0 the pool's last n_dev examples are a
        labelled dev split, never trained on (the router's threshold is chosen there); the training and test inputs
        are those of the same run without it."""
        c = self.cfg
        n_pool = c.n_train + c.n_shots + c.n_dev
        if c.train_file:
            pool, self.test = self.task.load_splits(c.train_file, c.test_file, n_pool, c.n_test, c.seed)
        elif self.task.needs_responses:  # e.g. judge pairs of the model's own responses
            with self.stage("responses"):
                pool, self.test = self.task.make_splits(n_pool, c.n_test, c.seed, respond=self.respond)
        else:
            pool, self.test = self.task.make_splits(n_pool, c.n_test, c.seed)
        cut = len(pool) - c.n_dev  # a task may make more inputs than asked (a judge pair: one input per order)
        self.shots, self.train, self.dev = pool[: c.n_shots], pool[c.n_shots : cut], pool[cut:]
        check_disjoint(pool, self.test, f"{c.task} data")
        params = "".join(f"{p}{getattr(c, p)}-" for p in self.task.params)
        out = Path(c.data_dir) / c.task / f"{params}seed{c.seed}-train{len(self.train)}-test{len(self.test)}"
        for split, examples in (("shots", self.shots), ("train", self.train), ("dev", self.dev), ("test", self.test)):
            if examples:
                save_examples(examples, out / f"{split}.jsonl")
        self.data_path = out
        return self.train, self.test

    # ---- generation -------------------------------------------------------------------------------------------
    def engine(self, adapter: str | Path | None = None) -> CachedEngine:
        """The cached engine for the base model or base + LoRA adapter; one model in memory at a time."""
        return self.engines(adapter)

    def release_engine(self) -> None:
        self.engines.release()

    def respond(self, prompts: list[str], n: int) -> list[list[str]]:
        """n sampled texts per prompt (generation settings, max_new_tokens_response): data a task builds from the
        model's own responses. Cached like every generation."""
        s = replace(self.cfg.sampling(n=n), max_new_tokens=self.cfg.max_new_tokens_response)
        return [[c.text for c in row] for row in self.engine().generate([user(p) for p in prompts], s, desc="responses")]

    def generate(self, method: str, examples: list[Example], sampling: Sampling, adapter=None) -> MethodOutput:
        m = build_method(method, self.cfg, self.task, self.shots)
        return m.run(self.engine(adapter), self.task, [e.question for e in examples], sampling)

    # ---- filtering --------------------------------------------------------------------------------------------
    def filter(self, label: str, out: MethodOutput, name: str | None = None) -> FilterResult:
        """Apply a label-free filter and record its statistics (`filters.filter_stats`; labels only as a diagnostic)."""
        name = name or self.cfg.filter
        res = build_filter(name, self.cfg, self.task, engine=self.engine).apply(out, self.train)
        self._record_filter(label, name, out, res)
        return res

    def _record_filter(self, label: str, name: str, out: MethodOutput | None, res: FilterResult) -> None:
        self.filters.append({"targets": label, "filter": name, **filter_stats(self.task, self.train, out, res)})

    def gold_targets(self) -> FilterResult:
        """ORACLE, not a method of the paper: the training inputs' true answers as targets. Distilled with the same
        recipe, it separates 'System 1 cannot learn the task at this size' from 'the System 2 targets are not good
        enough'."""
        res = FilterResult([e.answer or None for e in self.train], [1.0] * len(self.train))
        self._record_filter("gold labels (oracle)", "none (labels)", None, res)
        return res

    # ---- distillation -----------------------------------------------------------------------------------------
    def distill(self, label: str, targets: FilterResult, only: list[int] | None = None, lora=None) -> Path | None:
        """LoRA-train the same model on (System 1 prompt -> kept target); None when the filter kept nothing.
        `only`: train on these training inputs alone (learning curve, validation); `lora`: a recipe other than the
        chosen one."""
        keep = set(range(len(self.train)) if only is None else only)
        pairs = [(self.task.direct_prompt(e.question), self.task.format_target(t))
                 for i, (e, t) in enumerate(zip(self.train, targets.targets)) if t is not None and i in keep]
        slug = label.lower().replace(" ", "_").replace("(", "").replace(")", "").replace("-", "")
        if not pairs:
            self.trainings.append({"system": label, "n_pairs": 0, "status": "not trained: the filter kept no example"})
            return None
        lora = lora or self.lora
        full_key = run_key(self.cfg.model, pairs, lora)
        key = full_key[:16]  # shown in the trainings table: short enough to read
        same = next((t for t in self.trainings if t.get("key") == key), None)
        if same is not None:  # e.g. a filter that kept every input: no-filter targets are the same pairs
            self.trainings.append({**same, "system": label, "status": f"same pairs as {same['system']}: adapter reused",
                                   "train_seconds": 0.0})
            return Path(same["adapter"])
        adapter = self.dir / "adapters" / slug
        if trained_record(adapter, full_key) is None:
            self.release_engine()  # free the inference model before training
        rec = train_lora_isolated(self.cfg.model, pairs, adapter, lora)
        resumed = rec.get("resumed_from_step")  # a run killed mid-training resumed from its checkpoint
        self.trainings.append({"system": label, "key": key,
                               "status": f"trained (resumed at step {resumed})" if resumed else "trained",
                               **{k: rec[k] for k in ("n_pairs", "steps", "train_seconds")},
                               "first_loss": rec["losses"][0] if rec["losses"] else None,
                               "last_loss": rec["losses"][-1] if rec["losses"] else None, "adapter": str(adapter)})
        return adapter

    def choose_recipe(self, targets: FilterResult) -> dict:
        """Pick lr x epochs (cfg.lr_grid x cfg.epochs_grid) on a validation split: the last cfg.n_val training inputs.
        Each candidate is trained on the targets of the other training inputs and scored, greedy, on the validation
        inputs' labels (labels used here only, never the test set). The final adapters then use the winner, trained
        on all training inputs. Without a grid the profile's recipe is kept and recorded as not tuned."""
        c = self.cfg
        if not (c.n_val and (len(c.lr_grid) > 1 or len(c.epochs_grid) > 1)):
            return self.recipe
        fit, val = list(range(len(self.train) - c.n_val)), self.train[-c.n_val :]
        trials = []
        for lr in c.lr_grid or [c.lr]:
            for epochs in c.epochs_grid or [c.epochs]:
                lora = replace(self.lora, lr=lr, epochs=epochs)
                adapter = self.distill(f"validation lr{lr:g} ep{epochs:g}", targets, only=fit, lora=lora)
                correct = []  # no adapter (nothing kept): NaN accuracy and interval
                if adapter is not None:
                    out = self.generate("system1", val, c.greedy(), adapter=adapter)
                    # inputs without a known answer (a judge's unlabeled training pairs) are not scored
                    correct = [self.task.score(a[0], e) for a, e in zip(out.answers, val) if e.answer]
                score = rate("accuracy", correct, c.seed)
                trials.append({"lr": lr, "epochs": epochs, "val_accuracy": score["accuracy"],
                               "val_ci_low": score["ci_low"], "val_ci_high": score["ci_high"]})
        best = max((t for t in trials if t["val_accuracy"] == t["val_accuracy"]), key=lambda t: t["val_accuracy"],
                   default=None)  # first of the best: grid order breaks ties
        if best is not None:
            self.lora = replace(self.lora, lr=best["lr"], epochs=best["epochs"])
        self.recipe = {"chosen_by": f"validation accuracy on {c.n_val} training inputs (labels used only there)",
                       "lr": self.lora.lr, "epochs": self.lora.epochs, "trials": trials}
        return self.recipe

    def learning_curve(self, label: str, targets: FilterResult, full_row: dict | None = None) -> list[dict]:
        """Accuracy of `label`'s distilled model trained on n of its kept pairs, for n in cfg.learning_curve (nested
        seeded subsets; sizes at or above the kept count are skipped) plus all kept pairs (`full_row`); none without
        cfg.learning_curve."""
        if not self.cfg.learning_curve:
            return []
        kept = [i for i, t in enumerate(targets.targets) if t is not None]
        order = np.random.default_rng(self.cfg.seed).permutation(kept).tolist()
        points = []
        for n in sorted(self.cfg.learning_curve):
            if n >= len(kept):
                continue
            adapter = self.distill(f"{label} ({n} pairs)", targets, only=order[:n])
            row = self._rows(f"{label} ({n} pairs)", "system1", adapter)[0]
            points.append({"curve": label, "n_pairs": n, **row})
        if full_row is not None and full_row.get("status") == "ok":
            points.append({"curve": label, "n_pairs": len(kept), **full_row})
        self.curve = [p for p in self.curve if p["curve"] != label] + points
        return points

    # ---- evaluation -------------------------------------------------------------------------------------------
    def evaluate(self, label: str, method: str, adapter: str | Path | None = None, trained: bool = True,
                 maj_k: list[int] | None = None) -> list[dict]:
        """Evaluation on the held-out test set, recorded in the results: accuracy with bootstrap CI (per metric subset
        of the task, see `_scored`), tokens and seconds per input. Greedy, one row, by default. With `maj_k`: max(k)
        samples per input are drawn once (the generation stage's sampling settings) and maj@k votes over the first k,
        so maj@1 is the first sampled answer (not greedy); tokens and seconds add up all k samples; the k=1 row carries
        the plain label, the others "<label> maj@<k>". `trained=False`: rows saying there is no distilled model."""
        rows = self._rows(label, method, adapter, maj_k) if trained else [
            {"system": name, **extra, "status": NOT_TRAINED} for name, extra in self._row_names(label, maj_k)]
        for row in rows:
            self._record(row)
        return rows

    @staticmethod
    def _row_names(label: str, maj_k: list[int] | None) -> list[tuple[str, dict]]:
        if not maj_k:
            return [(label, {})]
        return [(label if k == 1 else f"{label} maj@{k}", {"base_system": label, "k": k}) for k in sorted(maj_k)]

    def _rows(self, label: str, method: str, adapter=None, maj_k: list[int] | None = None) -> list[dict]:
        """The scored rows of one system (not recorded); its outputs are kept for inspection."""
        names = self._row_names(label, maj_k)
        sampling = self.cfg.sampling(n=max(maj_k)) if maj_k else self.cfg.greedy()
        out = self.generate(method, self.test, sampling, adapter=adapter)
        self.outputs[label] = out
        rows = []
        for name, extra in names:
            k = extra.get("k", 1)
            answers = maj_at_k(out.answers, k, self.task.normalize) if maj_k else [a[0] for a in out.answers]
            rows.append({"system": name, **extra, **self._scored(answers, [sum(t[:k]) for t in out.tokens],
                                                                 [sum(s[:k]) for s in out.seconds]),
                         **step_diagnostics(self.task, self.test, out, k)})
        return rows

    def evaluate_seeds(self, label: str, targets: FilterResult) -> list[dict]:
        """`label`'s distilled model trained again with every training seed of cfg.seeds (LoRA initialisation and data
        order; same pairs and recipe) and evaluated on the same test items, greedy. Rows "<label> (seed s)" carry
        `base_system` and `seed` (the run's own row gets `seed` too); `compare` gives each its paired tests and
        `seed_summary` the spread. The System 2 generations are not redone: only training depends on the seed."""
        main = next((r for r in self.rows if r["system"] == label and r.get("status") == "ok"), None)
        if main is None:
            return []
        main["seed"] = self.lora.seed
        rows = [main]
        for seed in (s for s in self.cfg.seeds if s != self.lora.seed):
            name = f"{label} (seed {seed})"
            adapter = self.distill(name, targets, lora=replace(self.lora, seed=seed))
            row = {**self._rows(name, "system1", adapter)[0], "base_system": label, "seed": seed}
            self._record(row)
            rows.append(row)
        return rows

    def seed_summary(self, metric: str = "accuracy") -> dict[str, dict]:
        """Per system trained with several seeds (`evaluate_seeds`): each seed's `metric`, their mean, standard
        deviation and range, and whether every seed's paired CI against System 1 lies above 0."""
        out = {}
        for row in self.rows:
            if row.get("seed") is None or "base_system" in row or metric not in row:
                continue
            runs = [row] + [r for r in self.rows if r.get("base_system") == row["system"] and metric in r]
            values = [r[metric] for r in runs]
            beats = [r["vs_system1"]["ci_low"] > 0 for r in runs if isinstance(r.get("vs_system1"), dict)]
            out[row["system"]] = {"metric": metric, "seeds": [r["seed"] for r in runs], "values": values,
                                  "mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1
                                  else float("nan"), "min": float(min(values)), "max": float(max(values)),
                                  "every_seed_beats_system1": bool(beats) and len(beats) == len(runs) and all(beats)}
        return out

    def evaluate_variants(self, systems: dict[str, str | Path | None]) -> list[dict]:
        """Direct systems (label -> adapter, None: the base model) on the task's prompt variants of every test input
        (`Task.prompt_variants`), greedy: accuracy per variant with its CI, and per system the share of test inputs
        whose answer changes between variants (`answer_changes`, with a CI). Empty when the task has no variants."""
        variants = [self.task.prompt_variants(e) for e in self.test]
        names = list(variants[0]) if variants and variants[0] else []
        norm = lambda a: None if a is None else self.task.normalize(a)  # noqa: E731
        records = []
        for label, adapter in systems.items():
            answers = {}
            for name in names:
                examples = [replace(e, question=v[name]) for e, v in zip(self.test, variants)]
                answers[name] = [a[0] for a in self.generate("system1", examples, self.cfg.greedy(), adapter).answers]
                correct = [self.task.score(a, e) for a, e in zip(answers[name], self.test)]
                records.append({"system": label, "variant": name, **rate("accuracy", correct, self.cfg.seed)})
            changes = [len({norm(answers[n][i]) for n in names}) > 1 for i in range(len(self.test))]
            records.append({"system": label, "variant": "answer changes between variants",
                            **rate("answer_changes", changes, self.cfg.seed)})
        self.variants = records
        return records

    def evaluate_router(self, adapter: str | Path, system2: str, label: str = "Router") -> dict:
        """Beyond the paper: the distilled System 1 (`adapter`) answers, `system2` (a method) answers where the
        router's label-free confidence is low (`s2dlib.route`). Every threshold is scored on the test set (the curve);
        one threshold is chosen on the dev split (`route.choose`), and its test row joins the results table.
        Generations are shared with (and cached like) the other rows."""
        c, k = self.cfg, self.cfg.router_k
        if not k:
            return {}

        def sweep(examples: list[Example]) -> list[dict]:
            s1 = self.generate("system1", examples, c.greedy(), adapter=adapter)
            samples = self.generate("system1", examples, c.sampling(n=k), adapter=adapter)
            s2 = self.generate(system2, examples, c.greedy())
            conf = route.agreement([a[0] for a in s1.answers], samples.answers, self.task.normalize)
            return [{"system": f"{label} t={r.threshold:.2f}", "threshold": r.threshold, "sent_pct": 100 * r.sent_share,
                     **self._scored(r.answers, r.tokens, r.seconds, examples=examples)}
                    for r in route.sweep(k, conf, route.Side.first(s1), route.Side.total(samples), route.Side.first(s2))]

        test_rows = sweep(self.test)
        for row, front in zip(test_rows, route.pareto([(r["tokens"], r["accuracy"]) for r in test_rows])):
            row["pareto"] = front
        dev_rows = sweep(self.dev) if self.dev else []
        chosen = route.choose(dev_rows) if dev_rows else None
        if chosen is not None:
            row = next(r for r in test_rows if r["threshold"] == chosen["threshold"])
            self._record({**{k_: v for k_, v in row.items() if k_ != "pareto"},
                          "system": f"{label} (t={chosen['threshold']:.2f} chosen on dev)"})
        self.router = {"k": k, "system2": system2, "n_dev": len(self.dev),
                       "chosen_threshold": None if chosen is None else chosen["threshold"],
                       "chosen_by": (f"cheapest threshold whose accuracy on {len(self.dev)} dev inputs reaches the lower "
                                     "95% CI bound of System 2's there (labels used only there)") if chosen else
                                    "not chosen: no dev split (n_dev = 0); the test sweep is descriptive only",
                       "test": test_rows, "dev": dev_rows}
        return self.router

    def _scored(self, answers: list[str | None], tokens: list[int], seconds: list[float],
                examples: list[Example] | None = None) -> dict:
        """Status, accuracy with CI, tokens and seconds per input, for one answer per test input: one accuracy per
        metric subset of the task (e.g. biased / unbiased inputs), variants of one question resampled together."""
        examples = self.test if examples is None else examples
        correct = [self.task.score(a, e) for a, e in zip(answers, examples)]
        metrics = accuracy_row(correct, tokens, sum(a is None for a in answers), seed=self.cfg.seed,
                               subsets=self.task.metric_subsets(examples), clusters=[source_of(e) for e in examples])
        for metric, (outcomes, clusters) in self.task.answer_outcomes(answers, examples).items():
            metrics.update(rate(metric, outcomes, self.cfg.seed, clusters))
        return {"status": "ok", **metrics, "wall_s_per_input": float(np.mean(seconds)),
                "outcomes": [int(c) for c in correct]}  # per test input, in order: paired tests read them

    def known_subset(self, reference: str = "System 1") -> dict[str, list[int]]:
        """Add the task's subsets decided by `reference`'s outcomes (`Task.known_subsets`, e.g. the biased inputs of
        the questions System 1 answers right in their plain form) to every scored row, with CIs that resample
        questions. Call it after the rows are evaluated."""
        ref = next((r for r in self.rows if r["system"] == reference and "outcomes" in r), None)
        if ref is None:
            raise ValueError(f"reference={reference!r}: allowed values are evaluated systems "
                             f"({', '.join(r['system'] for r in self.rows if 'outcomes' in r)})")
        self.known = self.task.known_subsets(self.test, ref["outcomes"])
        clusters = [source_of(e) for e in self.test]
        for row in self.rows:
            for metric, idx in self.known.items():
                if "outcomes" in row:
                    row.update(rate(metric, [row["outcomes"][i] for i in idx], self.cfg.seed, [clusters[i] for i in idx]))
        return self.known

    def compare(self, table: str) -> list[dict]:
        """Paired comparisons on the same test items (issue 36), on the table's verdict metric: every distilled row
        (a system that was trained) against the table's System 1 (`vs_system1`) and System 2 (`vs_system2`) rows, the
        gold-label ceiling also against the distilled row (`vs_distilled`), System 2 against System 1. Each is the
        difference in points with a paired bootstrap 95% CI over the marginal CIs' clusters and McNemar's exact p
        (`evaluate.paired_difference`). Call it after the rows (and `known_subset`) are evaluated."""
        role, metric = roles(table), verdict_metric(table)
        subsets = {**self.task.metric_subsets(self.test), **self.known}
        idx = subsets.get(metric, list(range(len(self.test))))
        clusters = [source_of(self.test[i]) for i in idx]
        scored = {r["system"]: r for r in self.rows if r.get("status") == "ok" and "outcomes" in r}
        trained = {t["system"] for t in self.trainings}
        against = {"vs_system1": role["system1"], "vs_system2": role["system2"], "vs_distilled": role["distilled"]}
        done = []
        for row in self.rows:
            name = row["system"]
            if name not in scored or not (name in trained or name == role["system2"]):
                continue
            keys = ("vs_system1",) if name not in trained else \
                ("vs_system1", "vs_system2", "vs_distilled") if name == GOLD else ("vs_system1", "vs_system2")
            for key in keys:
                other = against[key]
                if other in scored and other != name:
                    row[key] = {"system": other, "metric": metric, **paired_difference(
                        [row["outcomes"][i] for i in idx], [scored[other]["outcomes"][i] for i in idx], clusters,
                        self.cfg.seed)}
            done.append(row)
        return done

    def _record(self, row: dict) -> None:
        """Add a result row, replacing an earlier row of the same system."""
        self.rows = [r for r in self.rows if r["system"] != row["system"]] + [row]

    # ---- recording --------------------------------------------------------------------------------------------
    def provenance(self) -> dict:
        c, sessions = self.cfg, self._log_session()
        this = sessions[-1]
        return {
            "experiment": self.name, "model": c.model, "model_fingerprint": self.engines.fingerprint, "profile": c.profile,
            "task": c.task, **{p: getattr(c, p) for p in self.task.params}, "n_train": len(self.train),
            "n_test": len(self.test), "n_dev": len(self.dev), "seed": c.seed, "n_samples": c.n_samples, "n_shots": len(self.shots),
            "data": str(getattr(self, "data_path", "")), "run_dir": str(self.dir),
            "started_utc": self.started.isoformat(timespec="seconds"),
            "finished_utc": this["last_utc"], "wall_s": this["wall_s"], "stage_s": this["stage_s"],
            "engine": resolve_engine(self.cfg.engine), **environment(), "git_commit": self.git,
            "completions": {"generated": self.cache.added, "reused": self.cache.reused, "skipped_lines": self.cache.skipped},
            # every session that worked in this run directory; their wall times add up to the run's cost from empty
            "sessions": sessions, "sessions_wall_s": round(sum(e["wall_s"] for e in sessions), 1),
        }

    def save_metrics(self, path: str | Path | None = None, table: str = "", system2: str = "") -> dict:
        """Write the machine-readable record (rows, filters, trainings, provenance, config) that tests and the summary read."""
        record = {"experiment": self.name, "paper_table": table, "system2": system2, "task": self.cfg.task,
                  "test_data": self.task.data_stats(self.test), "rows": self.rows, "filters": self.filters, "trainings": self.trainings, "recipe": self.recipe,
                  "learning_curve": self.curve, "router": self.router, "prompt_variants": self.variants,
                  "seeds": self.seed_summary(verdict_metric(table) if table else "accuracy"),
                  "provenance": self.provenance(), "config": self.cfg.asdict()}
        _write_json(Path(path) if path else self.dir / "metrics.json", record)
        return record


def _write_json(path: Path, obj) -> None:
    """Write through a temporary file, so a reader (or a kill) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    tmp.replace(path)
