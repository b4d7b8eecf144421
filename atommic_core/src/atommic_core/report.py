"""``python -m atommic_core report RUN_DIR``: curves, test tables and previews of one run.

Reads what a run folder already holds: the CSV logger's ``csv/metrics.csv`` (and the
``metrics-<n>.csv`` kept from earlier sessions of a resumed run), ``test_results.json``, the
per-case / per-volume CSV tables the collections write next to it, and PNG previews
(``previews/``, ``predictions/**``). Writes ``<RUN_DIR>/report/curves.png`` (one panel per
metric, training and validation on the same axes, against the global step) and
``<RUN_DIR>/report/index.html`` (the curves, the tables and the previews, linked
relatively so the folder can be moved as a whole).
"""

from __future__ import annotations

import csv
import html
import json
import math
import os
from pathlib import Path
from typing import Any

from atommic_core.errors import AtommicError

__all__ = ["read_curves", "write_report"]

_SPLIT_PREFIXES = ("train_", "val_")
_SUFFIXES = ("_step", "_epoch")
_MAX_PANELS = 12
_MAX_PREVIEWS = 16
_MAX_ROWS = 50


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _metric_files(run_dir: Path) -> list[Path]:
    folder = run_dir / "csv"
    older = sorted(folder.glob("metrics-*.csv"), key=lambda p: int(p.stem.split("-")[-1])
                   if p.stem.split("-")[-1].isdigit() else 0)
    current = folder / "metrics.csv"
    return [*older, *([current] if current.is_file() else [])]


def read_curves(run_dir: str | os.PathLike) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Training and validation series of a run, grouped by metric.

    Args:
        run_dir: The run folder (``exp_dir/name/version``).

    Returns:
        ``{metric: {column: [(step, value), ...]}}``; ``metric`` is the column name without
        its ``train_``/``val_`` prefix and Lightning's ``_step``/``_epoch`` suffix. Test
        columns (single values) are left to the test table.
    """
    files = _metric_files(Path(run_dir))
    if not files:
        raise AtommicError(f"report: no csv/metrics.csv in {run_dir}; was the run trained with "
                           "exp_manager.create_csv_logger: true?")
    groups: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for path in files:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                step = _float(row.get("step", ""))
                for column, text in row.items():
                    value = _float(text)
                    if column in ("epoch", "step") or value is None or step is None or \
                            column.startswith("test_"):
                        continue
                    metric = column
                    for prefix in _SPLIT_PREFIXES:
                        metric = metric.removeprefix(prefix)
                    for suffix in _SUFFIXES:
                        metric = metric.removesuffix(suffix)
                    groups.setdefault(metric, {}).setdefault(column, []).append(
                        (int(step), value))
    return groups


def _ordered(groups: dict[str, Any]) -> list[str]:
    return sorted(groups, key=lambda m: (m != "loss", m))[:_MAX_PANELS]


def _plot_curves(groups: dict[str, dict[str, list[tuple[int, float]]]], path: Path) -> str:
    from atommic_core.plots import require_matplotlib, save_figure

    plt = require_matplotlib("report")
    names = _ordered(groups)
    cols = min(3, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, names, strict=False):
        for column, points in sorted(groups[metric].items()):
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, marker="o" if len(points) < 30 else None, ms=3,
                    label=column)
        ax.set_title(metric)
        ax.set_xlabel("global step")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if not names:
        axes.flat[0].text(0.5, 0.5, "no training/validation metrics logged", ha="center")
    fig.tight_layout()
    return save_figure(fig, path)


def _table_html(title: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    shown = rows[:_MAX_ROWS]

    def cell(value: Any) -> str:
        number = _float(value) if not isinstance(value, bool) else None
        text = f"{number:.4g}" if number is not None and not str(value).isdigit() else value
        return f"<td>{html.escape(str(text))}</td>"

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(r.get(c, "")) for c in columns) + "</tr>"
                   for r in shown)
    more = f"<p>({len(rows) - len(shown)} more rows in the file)</p>" \
        if len(rows) > len(shown) else ""
    return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>{more}"


def _test_tables(run_dir: Path) -> list[str]:
    parts = []
    results = run_dir / "test_results.json"
    if results.is_file():
        data = json.loads(results.read_text())
        rows = [{"dataloader": i, **r} for i, r in enumerate(data if isinstance(data, list)
                                                              else [data])]
        parts.append(_table_html("Test results (test_results.json)", rows))
    for path in sorted(run_dir.glob("*.csv")):
        with open(path, newline="") as f:
            parts.append(_table_html(f"Table {path.name}", list(csv.DictReader(f))))
    return [p for p in parts if p]


def _previews(run_dir: Path) -> list[Path]:
    found = sorted(run_dir.glob("previews/*.png")) + sorted(run_dir.glob("predictions/**/*.png"))
    return found[:_MAX_PREVIEWS]


def write_report(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None
                 ) -> dict[str, str]:
    """Write the curves PNG and the HTML page of a run.

    Args:
        run_dir: The run folder.
        out_dir: Where to write (default ``<run_dir>/report``).

    Returns:
        ``{"curves": png path, "html": page path}``.
    """
    run = Path(run_dir).resolve()
    if not run.is_dir():
        raise AtommicError(f"report: {run_dir} is not a folder; pass a run folder "
                           "(exp_dir/name/version)")
    out = Path(out_dir).resolve() if out_dir else run / "report"
    groups = read_curves(run)
    out.mkdir(parents=True, exist_ok=True)
    curves = _plot_curves(groups, out / "curves.png")
    images = "".join(
        f'<figure><img src="{html.escape(os.path.relpath(p, out))}"><figcaption>'
        f"{html.escape(str(p.relative_to(run)))}</figcaption></figure>" for p in _previews(run))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>atommic run "
            f"{html.escape(run.name)}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
            "font-size:12px}figure{display:inline-block;margin:4px}img{max-width:480px}"
            f"</style></head><body><h1>Run {html.escape(str(run))}</h1>"
            f"<h2>Training and validation curves</h2><img src='curves.png'>"
            + "".join(_test_tables(run))
            + (f"<h2>Previews</h2>{images}" if images else "") + "</body></html>\n")
    page_path = out / "index.html"
    tmp = page_path.with_name(f".index.html.tmp{os.getpid()}")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, page_path)
    return {"curves": curves, "html": str(page_path)}
