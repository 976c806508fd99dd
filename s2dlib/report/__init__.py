"""What a reader sees of a run: tables beside the paper's numbers (`tables`), figures (`figures`), the verdict on the
paper's claim (`verdict_policy`), the study summary and index page (`pages`), beyond the paper Table 1 last-letter
across model sizes (`sizes`) and System 1.5 on GSM8K (`system15`). Notebooks call it as `report.<name>`;
`report.verdict` is the function (the module is `verdict_policy` so that the name stays the function's)."""
from ..paper import GOLD, beyond_paper, paper_numbers, verdict_metric
from .figures import (ROUTER_KIND, plot_accuracy_vs_tokens, plot_learning_curve, plot_model_sizes, plot_router,
                      summary_figure)
from .pages import (comparison_table, experiments, glance_table, headline_cells, markdown_table, other_experiments,
                    other_results, paper_notebooks, provenance_overview, run_header, token_ratios, write_index)
from .sizes import MODEL_SIZES, model_size, size_command, size_runs, size_table
from .system15 import pairs_table, system15_finding, system15_systems, system15_table
from .tables import (answers_table, metric_breakdown, outcome_breakdown, paper_rows, pilot_table, provenance_table,
                     recipe_note, recipe_table, results_table, router_table, seed_table, show, systems_table,
                     target_lengths, variants_table, worked_example)
from .verdict_policy import CONTROL, FLOOR, LEVEL, MIN_GAIN, NEGATIVE, PILOT_N, Verdict, judge, verdict, verdicts

__all__ = [
    "GOLD", "beyond_paper", "paper_numbers", "verdict_metric",
    "ROUTER_KIND", "plot_accuracy_vs_tokens", "plot_learning_curve", "plot_model_sizes", "plot_router",
    "summary_figure", "MODEL_SIZES", "model_size", "size_command", "size_runs", "size_table",
    "pairs_table", "system15_finding", "system15_systems", "system15_table",
    "comparison_table", "experiments", "glance_table", "headline_cells", "markdown_table", "other_experiments",
    "other_results", "paper_notebooks", "provenance_overview", "token_ratios", "write_index",
    "answers_table", "metric_breakdown", "outcome_breakdown", "paper_rows", "pilot_table", "provenance_table", "recipe_note",
    "recipe_table", "results_table", "router_table", "seed_table", "show", "systems_table", "target_lengths",
    "variants_table", "worked_example",
    "CONTROL", "FLOOR", "LEVEL", "MIN_GAIN", "NEGATIVE", "PILOT_N", "Verdict", "judge", "verdict", "verdicts",
]
