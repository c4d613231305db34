"""The benchmark: several models on every data set of a suite, side by side.

A suite is a named list of data sets in ``params.yaml`` (``benchmark.suites``). Each model is
evaluated on each data set with ``evaluate.evaluate_model`` (so each evaluation is an MLflow run
as usual, tagged with the suite), on the same seeded sample of at most
``evaluate.max_conversations`` conversations per data set, with ``evaluate.bootstrap`` resamples
and ``base.seed``. Outputs:

- ``<out_dir>/benchmark/<suite>/<model>/<dataset>/``: ``metrics.json``,
  ``metrics.predictions.json`` and the plots of one evaluation; ``summary.json`` beside the
  model folders; the whole folder is replaced in one step when every evaluation succeeded;
- ``<out_dir>/benchmark.md`` and ``<out_dir>/benchmark.html`` (self-contained: images as data
  URIs, no external CSS or scripts): per data set, a table of the leaderboard's headline metrics
  with 95% intervals for every model, then each plot of every model side by side (rendered by
  ``pipeline.reporting.benchmark_report`` from its templates).

Models are model directories or MLflow model URIs; any MLflow pyfunc model that answers the
message table with ``p_<label>`` columns works (``pipeline.models.external``). Such external
models use 0.5 per label and the default risk scorer unless ``calibrate`` names a labelled
corpus on which ``Model.tune`` sets their thresholds (the project's models keep the thresholds
tuned when they were trained).

Input errors (unknown suite, missing data file, unloadable model, a model whose predictions break
the contract) are raised as ``PipelineError`` before anything is written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import tracking
from pipeline.config import DEFAULT_PARAMS, load_params
from pipeline.core.errors import PipelineError
from pipeline.core.io import atomic_directory, refuse_foreign_folder, write_text_atomic
from pipeline.data import corpus
from pipeline.reporting.benchmark_report import (  # noqa: F401  (metric_cell: part of this module's API)
    PLOTS,
    REPORT_NAME,
    metric_cell,
    metric_value,
    report_html,
    report_markdown,
    thresholds_note,
)
from pipeline.reporting.leaderboard import COLUMNS

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class BenchmarkDataset:
    name: str
    path: Path
    source: str = ""  # the path as the suite gives it (shown in the reports)
    max_conversations: int | None = None  # the entry's own sample size (0: whole), else the suite's


@dataclass
class BenchmarkModel:
    name: str  # unique within the run, safe as a folder name
    reference: str
    model: Any
    external: bool = False
    calibrated: bool = False


@dataclass
class BenchmarkResult:
    suite: str
    out_dir: Path
    models: list[BenchmarkModel]
    datasets: list[BenchmarkDataset]
    metrics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # dataset -> model -> metrics
    settings: dict[str, Any] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)

    @property
    def suite_dir(self) -> Path:
        return self.out_dir / REPORT_NAME / self.suite


# ----------------------------------------------------------------- configuration


def suite_datasets(
    params: dict[str, Any], suite: str | None, base_dir: Path, params_path: str | Path | None = None
) -> tuple[str, list[BenchmarkDataset]]:
    """The chosen suite's name and data sets (paths relative to ``base_dir``, the params file's folder)."""
    where = params_path or DEFAULT_PARAMS
    bench = params.get("benchmark") or {}
    suites = bench.get("suites") or {}
    if not isinstance(suites, dict):
        raise PipelineError(f"{where}: benchmark.suites: expected a mapping of suite name to a list of data sets")
    name = suite or bench.get("suite") or "default"
    if name not in suites:
        known = ", ".join(sorted(suites)) or "none"
        raise PipelineError(f"unknown benchmark suite '{name}'; {where} defines: {known} (benchmark.suites)")
    entries = suites[name]
    if not isinstance(entries, list) or not entries:
        raise PipelineError(f"{where}: benchmark.suites.{name}: expected a non-empty list of {{name, path}}")
    if not _SAFE_NAME.match(str(name)):
        raise PipelineError(f"{where}: benchmark.suites.{name}: a suite name may hold letters, digits, '.', '_', '-'")
    datasets, seen = [], set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise PipelineError(f"{where}: benchmark.suites.{name}[{i}]: expected {{name: ..., path: ...}}")
        dataset_name = str(entry.get("name") or Path(entry["path"]).stem)
        if not _SAFE_NAME.match(dataset_name):
            raise PipelineError(
                f"{where}: benchmark.suites.{name}[{i}]: name '{dataset_name}': "
                "expected letters, digits, '.', '_', '-' (it names a folder)"
            )
        if dataset_name in seen:
            raise PipelineError(f"{where}: benchmark.suites.{name}: data set name '{dataset_name}' appears twice")
        seen.add(dataset_name)
        path = Path(entry["path"])
        own = entry.get("max_conversations")
        if own is not None and (isinstance(own, bool) or not isinstance(own, int) or own < 0):
            raise PipelineError(
                f"{where}: benchmark.suites.{name}[{i}]: max_conversations: expected a whole number >= 0 (0: all)"
            )
        datasets.append(
            BenchmarkDataset(dataset_name, path if path.is_absolute() else base_dir / path, entry["path"], own)
        )
    missing = [f"[{i}].path: {d.path}" for i, d in enumerate(datasets) if not d.path.is_file()]
    if missing:
        raise PipelineError(
            f"{where}: benchmark.suites.{name}: missing data file(s) (expected a conversation-format JSONL): "
            + "; ".join(missing)
        )
    return str(name), datasets


def _unique_names(models: list[Any]) -> list[str]:
    names, counts = [], {}
    for model in models:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", str(model.kind)).strip("._") or "model"
        counts[base] = counts.get(base, 0) + 1
        names.append(base if counts[base] == 1 else f"{base}-{counts[base]}")
    return names


def load_models(references: list[str], calibrate: Path | None, probe: Any, seed: int) -> list[BenchmarkModel]:
    """Load every model (an error names the first that fails); calibrate or probe external ones."""
    from pipeline.models.external import ExternalModel
    from pipeline.schema import load_schema

    if not references:
        raise PipelineError("benchmark: give at least one --model")
    label_ids = load_schema().label_ids
    loaded = [tracking.load_model(reference, label_ids=label_ids) for reference in references]
    calibration = None
    if calibrate is not None:
        if not Path(calibrate).is_file():
            raise PipelineError(f"{calibrate}: no such calibration file (a labelled conversation-format JSONL)")
        schema = load_schema()
        calibration = corpus.read_conversations(calibrate, label_ids=schema.label_ids, flag_ids=schema.flag_ids)
    out = []
    for name, reference, model in zip(_unique_names(loaded), references, loaded, strict=True):
        if model.kind != name:
            model.kind = name  # two models of one kind: tell their runs, tags and plots apart
        external = isinstance(model, ExternalModel)
        if external and calibration is not None:
            model.seed = seed
            model.tune(calibration)  # per-label thresholds, then the risk threshold
        elif external and probe is not None:
            model.message_probabilities([probe])  # a contract error now, before anything is written
        out.append(BenchmarkModel(name, str(reference), model, external, external and calibration is not None))
    return out


# ------------------------------------------------------------------------- run


def _sample_size(dataset: BenchmarkDataset, suite_limit: int, argument: int | None) -> int:
    if argument is None and dataset.max_conversations is not None:
        return dataset.max_conversations
    return suite_limit


def run_benchmark(
    references: list[str],
    suite: str | None = None,
    params_path: str | Path | None = None,
    out_dir: str | Path | None = None,
    max_conversations: int | None = None,
    bootstrap: int | None = None,
    calibrate: str | Path | None = None,
    track: bool = True,
    force: bool = False,
) -> BenchmarkResult:
    """Evaluate every model on every data set of the suite; write the per-run outputs and the reports.

    ``max_conversations`` and ``bootstrap`` override ``evaluate.max_conversations`` and
    ``evaluate.bootstrap`` (0 conversations: all); a suite entry's own ``max_conversations``
    (``0`` for a test set read whole) wins over ``evaluate.max_conversations``, not over the argument.
    The suite's folder (``<out_dir>/benchmark/<suite>``) is replaced whole: only an earlier
    benchmark's (it holds ``summary.json``) or an empty one, unless ``force``."""
    from pipeline.experiments.evaluate import evaluate_model

    typed = load_params(params_path or DEFAULT_PARAMS)
    params = typed.model_dump(by_alias=True, exclude_none=True)
    base_dir = Path(params_path).resolve().parent if params_path else DEFAULT_PARAMS.parent
    suite_name, datasets = suite_datasets(params, suite, base_dir, params_path)
    bench = params["benchmark"]
    evaluate = params["evaluate"]
    seed = typed.seed
    limit = int(evaluate.get("max_conversations") or 0) if max_conversations is None else int(max_conversations)
    samples = int(evaluate.get("bootstrap", 500)) if bootstrap is None else int(bootstrap)
    if out_dir is None:
        out_dir = Path(bench.get("out_dir") or "reports")
        out_dir = out_dir if out_dir.is_absolute() else base_dir / out_dir
    out_dir = Path(out_dir)

    reader = corpus.iter_conversations(datasets[0].path)  # one conversation to try external models on
    try:
        probe = next(reader, None)
    finally:
        reader.close()
    models = load_models(list(references), Path(calibrate) if calibrate else None, probe, seed)
    result = BenchmarkResult(
        suite_name,
        out_dir,
        models,
        datasets,
        settings={
            "seed": seed,
            "bootstrap": samples,
            "max_conversations": limit,
            "forced_size": max_conversations is not None,
            "calibrate": str(calibrate) if calibrate else None,
        },
    )
    refuse_foreign_folder(result.suite_dir, "the benchmark's suite folder", "summary.json", force)
    with atomic_directory(result.suite_dir) as staging:
        for dataset in datasets:
            for entry in models:
                run_dir = staging / entry.name / dataset.name
                result.metrics.setdefault(dataset.name, {})[entry.name] = evaluate_model(
                    entry.reference,
                    dataset.path,
                    run_dir / "metrics.json",
                    plots_dir=run_dir,
                    dataset=dataset.name,
                    bootstrap=samples,
                    seed=seed,
                    track=track,
                    max_conversations=_sample_size(dataset, limit, max_conversations) or None,
                    tags={"suite": suite_name},
                    model=entry.model,
                )
        write_text_atomic(staging / "summary.json", json.dumps(summary(result), indent=2) + "\n")
        images = {  # read now: the HTML report embeds them
            (d.name, m.name, plot): (staging / m.name / d.name / plot).read_bytes()
            for d in datasets
            for m in models
            for plot, _ in PLOTS
            if (staging / m.name / d.name / plot).is_file()
        }
    markdown_path, html_path = out_dir / f"{REPORT_NAME}.md", out_dir / f"{REPORT_NAME}.html"
    write_text_atomic(markdown_path, report_markdown(result, image_root=out_dir))
    write_text_atomic(html_path, report_html(result, images))
    result.written = [markdown_path, html_path, result.suite_dir]
    return result


# --------------------------------------------------------------------- reports


def summary(result: BenchmarkResult) -> dict[str, Any]:
    """``summary.json``: the run's settings, models, data sets and headline metrics."""
    return {
        "suite": result.suite,
        "settings": result.settings,
        "models": [
            {
                "name": m.name,
                "reference": m.reference,
                "external": m.external,
                "thresholds": thresholds_note(m),
                "label_thresholds": dict(zip(m.model.label_ids, m.model.thresholds_.round(6).tolist(), strict=True)),
                "risk_threshold": round(float(m.model.risk_.threshold_), 6),
            }
            for m in result.models
        ],
        "datasets": [
            {
                "name": d.name,
                "path": str(d.path),
                "conversations": next(iter(result.metrics[d.name].values()))["dataset"]["conversations"],
            }
            for d in result.datasets
        ],
        "results": {
            d: {
                m: {
                    "metrics": f"{m}/{d}/metrics.json",
                    **{key: metric_value(metrics, key) for _, key in COLUMNS},
                    "intervals": {key: (metrics.get("intervals") or {}).get(key) for _, key in COLUMNS},
                }
                for m, metrics in per_model.items()
            }
            for d, per_model in result.metrics.items()
        },
    }
