"""Optuna's own plots of a search: its Pareto front and each objective's parameter importances.

``figures`` returns plotly figures drawn by ``optuna.visualization`` from the search's study;
``write_plots`` saves them as HTML files with plotly's script in one file beside them (no
network needed to open them). Imported only when plots are asked for (``den search --plots DIR``), since
Optuna draws with plotly and the engine's other modules never import a drawing library.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from den_engine.core.errors import DENError
from den_engine.experiments.search import JOURNAL, STUDY, import_optuna
from den_engine.records.outputs import output_dir


def load_study(out: str | Path):
    """The Optuna study of the search folder ``out`` (read from its journal)."""
    optuna = import_optuna()
    path = Path(out) / JOURNAL
    if not path.is_file():
        raise DENError(f"{out}: holds no search (no {JOURNAL})")
    journal = optuna.storages.journal
    storage = journal.JournalStorage(journal.JournalFileBackend(str(path)))
    return optuna.load_study(study_name=STUDY, storage=storage)


def figures(out: str | Path) -> dict[str, object]:
    """{name: plotly figure}: the Pareto front and, with two finished trials or more, the importances."""
    optuna = import_optuna()
    study = load_study(out)
    spec = study.user_attrs.get("spec", {})
    score = f"val {spec.get('score', 'auroc').replace('auroc', 'AUROC')}"
    size = "parameters (fraction of STL)" if spec.get("size", "stl") == "stl" else "parameters"
    vis = optuna.visualization
    warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator")  # its note on targets: handled below
    result = {"pareto": vis.plot_pareto_front(study, target_names=[score, size])}
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) >= 2 and len(complete[0].params) >= 2:  # importances rank two knobs or more
        # Optuna's importance evaluator ranks knobs by how they reach *low* targets: the score is negated
        result["importance-score"] = vis.plot_param_importances(
            study, target=lambda t: -t.values[0], target_name=f"minus {score}"
        )
        result["importance-size"] = vis.plot_param_importances(study, target=lambda t: t.values[1], target_name=size)
    return result


def write_plots(out: str | Path, folder: str | Path) -> list[str]:
    """Write every figure of ``figures`` as ``folder/<name>.html``; returns a line per file."""
    folder = output_dir(folder, "--plots")
    lines = []
    for name, figure in figures(out).items():
        path = folder / f"{name}.html"
        figure.write_html(str(path), include_plotlyjs="directory")  # one plotly.min.js beside them: offline
        lines.append(f"wrote {path}")
    return lines
