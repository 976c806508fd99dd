"""One experiment, stage by stage: data -> System 2 generation -> label-free filter -> LoRA distillation -> evaluation.

Every notebook drives an `Experiment`; everything it computes is cached under `runs/<profile>/<name>/`, so a
rerun (after a crash, Ctrl-C or kill) only does the work that is missing.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import claims, recipe, route
from .cache import CachedEngine, CompletionCache
from .config import ExperimentConfig
from .distill import PendingAdapter, run_key, train_lora_isolated, trained_record
from .engines import EngineSlot, resolve_engine
from .engines.base import Sampling
from .evaluate import accuracy_row, maj_at_k, maj_row, rate, step_diagnostics
from .filters import FilterResult, build_filter, filter_stats
from .jsonio import write_json
from .methods import MethodOutput, build_method
from .methods.base import user
from .paper import verdict_metric
from .provenance import RunLog, merged_sessions, run_provenance
from .tasks import Example, check_disjoint, save_examples, source_of

NOT_TRAINED = "not run: no distilled model (the filter kept no example)"


def archive_folder(cfg: ExperimentConfig, name: str) -> Path:
    """Where an experiment's committed generations and session log live (`s2d archive`), read by every run of it."""
    return Path(cfg.data_dir) / "generations" / cfg.profile / name


def archive(cfg: ExperimentConfig, name: str) -> dict:
    """Copy what run `name` generated, and its session log, into its archive folder, to be committed: a run longer
    than one machine's life resumes from there on the next. Refused for tasks whose default data may not be shared."""
    task = cfg.make_task()
    if task.restricted_data and not cfg.train_file:
        raise ValueError(f"{name}: task {cfg.task!r} is not archived: {task.restricted_data}; allowed tasks are those "
                         "whose data may be committed (or your own files, train_file=...)")
    run = Path(cfg.run_dir) / cfg.profile / name
    if not (run / "generations.jsonl").exists():
        raise ValueError(f"{name}: nothing to archive ({run / 'generations.jsonl'} does not exist)")
    cache = CompletionCache(run / "generations.jsonl", archive=archive_folder(cfg, name))
    before = len(cache.archived)
    chunk = cache.export()
    write_json(cache.archive / "sessions.json", merged_sessions(cache.archive / "sessions.json", run / "sessions.json"))
    trainings = 0  # records of finished adapters (not their weights): a later machine retrains one only if needed
    for rec_file in sorted((run / "adapters").glob("*/s2d_train.json")):
        rec = json.loads(rec_file.read_text())
        out = cache.archive / "trainings" / f"{rec['key']}.json"
        if not out.exists():
            write_json(out, rec)
            trainings += 1
    return {"folder": cache.archive, "chunk": chunk, "added": len(cache.archived) - before, "total": len(cache.archived),
            "trainings": trainings}


class Experiment:
    """The paper's five stages on one method x task (data, System 2 generation, label-free filter, distillation,
    evaluation), with what it records: filters, trainings, result rows, the run log."""

    # beyond the five stages, in their own modules; the notebooks call them as methods of the experiment
    choose_recipe, learning_curve = recipe.choose_recipe, recipe.learning_curve
    known_subset, compare, compare_pairs = claims.known_subset, claims.compare, claims.compare_pairs
    evaluate_seeds = claims.evaluate_seeds
    seed_summary, evaluate_variants = claims.seed_summary, claims.evaluate_variants
    evaluate_router = route.evaluate_router

    def __init__(self, cfg: ExperimentConfig, name: str):
        self.cfg, self.name = cfg, name
        self.dir = Path(cfg.run_dir) / cfg.profile / name
        self.task = cfg.make_task()
        self.cache = CompletionCache(self.dir / "generations.jsonl", archive=archive_folder(cfg, name))
        self.log = RunLog(self.dir, self.cache)  # sessions.json: each session's cost, stage by stage
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
        self.pairs: list[dict] = []  # paired differences of named rows (compare_pairs)
        self.variants: list[dict] = []  # prompt-variant rows (evaluate_variants)
        self.known: dict[str, list[int]] = {}  # metric subsets decided by a reference system's outcomes (known_subset)
        self.lora = cfg.lora()  # the LoRA recipe of the final adapters (choose_recipe may replace it)
        self._adapters: dict[str, Path | PendingAdapter] = {}  # by training key (trainings table's "key")
        self.recipe: dict = {"chosen_by": cfg.recipe_source, **{k: getattr(self.lora, k) for k in ("lr", "epochs")}}

    def stage(self, name: str):
        """Time a stage (accumulated over calls) for the report's stage-by-stage wall times."""
        return self.log.stage(name)

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
        """`method`'s answers to `examples`; on inputs other than the training pool System 2 steps may get more room
        (`max_new_tokens_eval`), while training targets keep `max_new_tokens` (and their cache)."""
        c = self.cfg
        if examples is not self.train and c.max_new_tokens_eval:
            c = replace(c, max_new_tokens=c.max_new_tokens_eval)
        m = build_method(method, c, self.task, self.shots)
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
    def distill(self, label: str, targets: FilterResult, only: list[int] | None = None, lora=None,
                method: str = "system1") -> Path | None:
        """LoRA-train the same model on (System 1 prompt -> kept target); None when the filter kept nothing.
        `only`: train on these training inputs alone (learning curve, validation); `lora`: a recipe other than the
        chosen one. A target is the task's answer line, or the filter's whole text where it picked one (`texts`:
        System 1.5's CoT); `method`: the one-step method whose prompt the pairs (and the evaluation) use, e.g. cot."""
        keep = set(range(len(self.train)) if only is None else only)
        prompt = build_method(method, self.cfg, self.task, self.shots).prompt
        texts = targets.texts or [None] * len(targets.targets)
        pairs = [(prompt(self.task, e.question), self.task.format_target(t) if x is None else x)
                 for i, (e, t, x) in enumerate(zip(self.train, targets.targets, texts)) if t is not None and i in keep]
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
            return self._adapters[key]
        adapter = self.dir / "adapters" / slug
        train = lambda: train_lora_isolated(self.cfg.model, pairs, adapter, lora, self.cfg.train_processes)  # noqa: E731
        archived = self.cache.archive / "trainings" / f"{full_key}.json"
        done = trained_record(adapter, full_key)
        if done is None and archived.exists():
            rec, status = json.loads(archived.read_text()), "trained on an earlier machine (archived record)"
            self._adapters[key] = PendingAdapter(adapter, full_key, train)  # trained here only if a generation misses
        else:
            if done is None:
                self.release_engine()  # free the inference model before training
            rec = train()
            resumed = rec.get("resumed_from_step")  # a run killed mid-training resumed from its checkpoint
            status = f"trained (resumed at step {resumed})" if resumed else "trained"
            self._adapters[key] = adapter
        self.trainings.append({"system": label, "key": key, "status": status,
                               **{k: rec[k] for k in ("n_pairs", "steps", "train_seconds")},
                               "precision": rec.get("precision", "not recorded"),  # records before 2026-12-07 lack it
                               "first_loss": rec["losses"][0] if rec["losses"] else None,
                               "last_loss": rec["losses"][-1] if rec["losses"] else None, "adapter": str(adapter)})
        return self._adapters[key]

    # ---- evaluation -------------------------------------------------------------------------------------------
    def evaluate(self, label: str, method: str, adapter: str | Path | None = None, trained: bool = True,
                 maj_k: list[int] | None = None) -> list[dict]:
        """Evaluation on the held-out test set, recorded in the results: accuracy with bootstrap CI (per metric subset
        of the task, see `score_answers`), tokens and seconds per input. Greedy, one row, by default. With `maj_k`: max(k)
        samples per input are drawn once (the generation stage's sampling settings) and maj@k votes over the first k,
        so maj@1 is the first sampled answer (not greedy); tokens and seconds add up all k samples; the k=1 row carries
        the plain label, the others "<label> maj@<k>". `trained=False`: rows saying there is no distilled model."""
        rows = self.score_system(label, method, adapter, maj_k) if trained else [
            {"system": name, **extra, "status": NOT_TRAINED} for name, extra in self._row_names(label, maj_k)]
        for row in rows:
            self.record_row(row)
        return rows

    @staticmethod
    def _row_names(label: str, maj_k: list[int] | None) -> list[tuple[str, dict]]:
        if not maj_k:
            return [(label, {})]
        return [(maj_row(label, k), {"base_system": label, "k": k}) for k in sorted(maj_k)]

    def score_system(self, label: str, method: str, adapter=None, maj_k: list[int] | None = None) -> list[dict]:
        """The scored rows of one system (not recorded); its outputs are kept for inspection."""
        names = self._row_names(label, maj_k)
        sampling = self.cfg.sampling(n=max(maj_k)) if maj_k else self.cfg.greedy()
        out = self.generate(method, self.test, sampling, adapter=adapter)
        self.outputs[label] = out
        rows = []
        for name, extra in names:
            k = extra.get("k", 1)
            answers = maj_at_k(out.answers, k, self.task.normalize) if maj_k else [a[0] for a in out.answers]
            rows.append({"system": name, **extra, **self.score_answers(answers, [sum(t[:k]) for t in out.tokens],
                                                                        [sum(s[:k]) for s in out.seconds]),
                         **step_diagnostics(self.task, self.test, out, k)})
        return rows

    def score_answers(self, answers: list[str | None], tokens: list[int], seconds: list[float],
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

    def record_row(self, row: dict) -> None:
        """Add a result row, replacing an earlier row of the same system."""
        self.rows = [r for r in self.rows if r["system"] != row["system"]] + [row]

    # ---- recording --------------------------------------------------------------------------------------------
    def provenance(self) -> dict:
        """What the run's figures depend on (`provenance.run_provenance`), this session's log entry updated."""
        return run_provenance(self, resolve_engine(self.cfg.engine))

    def save_metrics(self, path: str | Path | None = None, table: str = "", system2: str = "") -> dict:
        """Write the machine-readable record (rows, filters, trainings, provenance, config) that tests and the summary read."""
        record = {"experiment": self.name, "paper_table": table, "system2": system2, "task": self.cfg.task,
                  "test_data": self.task.data_stats(self.test), "rows": self.rows, "filters": self.filters, "trainings": self.trainings, "recipe": self.recipe,
                  "learning_curve": self.curve, "router": self.router, "prompt_variants": self.variants,
                  "pairs": self.pairs,
                  "seeds": self.seed_summary(verdict_metric(table) if table else "accuracy"),
                  "provenance": self.provenance(), "config": self.cfg.asdict()}
        write_json(Path(path) if path else self.dir / "metrics.json", record)
        return record

