"""Model cards: the human-readable ``model_card.md`` every ``.atommic`` archive carries.

A card says what a model is for and how far to trust it: task, model, the data it was
trained on, the evaluation convention and test metrics (when a test ran), the training
budget, the versions it was built with and a license field (after Mitchell et al., "Model
Cards for Model Reporting", FAT* 2019). ``save_to`` writes one from what the model and its
trainer know; ``train`` rewrites it with the test metrics once the test ran. The card is
plain Markdown with a YAML front matter, editable: a restored model keeps its card (edits
included) when saved again, and ``python -m atommic_core info ARCHIVE --set-card FILE``
replaces it in place.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Mapping
from typing import Any

__all__ = ["LICENSE_PLACEHOLDER", "build_model_card", "card_front_matter", "run_facts"]

LICENSE_PLACEHOLDER = "unspecified (edit this field before sharing the model)"
_DATA_KEYS = ("path", "root", "dir", "file", "csv")
_SPLITS = ("train_ds", "validation_ds", "test_ds")


def run_facts(trainer: Any, seconds: float | None = None) -> dict[str, Any]:
    """The training budget of a finished ``fit``, for the card.

    Args:
        trainer: The Lightning ``Trainer`` that trained the model.
        seconds: Wall-clock training time, when measured.

    Returns:
        ``{"steps", "epochs", "max_steps", "max_epochs", "devices", "accelerator",
        "precision", "seconds"}`` (missing values as ``None``).
    """
    accelerator = getattr(trainer, "accelerator", None)
    return {
        "steps": int(getattr(trainer, "global_step", 0) or 0),
        "epochs": int(getattr(trainer, "current_epoch", 0) or 0),
        "max_steps": getattr(trainer, "max_steps", None),
        "max_epochs": getattr(trainer, "max_epochs", None),
        "devices": getattr(trainer, "num_devices", None),
        "accelerator": type(accelerator).__name__.replace("Accelerator", "").lower()
        if accelerator is not None else None,
        "precision": str(getattr(trainer, "precision", "")) or None,
        "seconds": None if seconds is None else round(float(seconds), 1),
    }


def _data_lines(cfg: Mapping[str, Any]) -> list[str]:
    """Paths-like settings of the data sections (``data_root``, ``*_path``, ...)."""
    lines = []
    if cfg.get("data_root"):
        lines.append(f"- data_root: `{cfg['data_root']}`")
    for split in _SPLITS:
        section = cfg.get(split)
        if not isinstance(section, Mapping):
            continue
        for key, value in section.items():
            if any(k in key.lower() for k in _DATA_KEYS) and isinstance(value, str | list):
                lines.append(f"- {split}.{key}: `{value}`")
    return lines or ["- (no data paths recorded in the config)"]


def _metric_lines(metrics: Mapping[str, Any] | None, convention: str | None) -> list[str]:
    lines = [f"- convention: {convention or 'as logged by the model (see its docs)'}"]
    if not metrics:
        return [*lines, "- test metrics: none (no test ran when the card was written)"]
    lines += ["", "| metric | value |", "|---|---|"]
    for name, value in sorted(metrics.items()):
        shown = f"{value:.6g}" if isinstance(value, float) and math.isfinite(value) else value
        lines.append(f"| {name} | {shown} |")
    return lines


def _budget_lines(run: Mapping[str, Any] | None) -> list[str]:
    if not run:
        return ["- not trained by `python -m atommic_core train` (saved directly)"]
    minutes = f"{run['seconds'] / 60:.1f} min" if run.get("seconds") is not None else "unknown"
    return [f"- steps: {run.get('steps')} (max_steps {run.get('max_steps')}), epochs: "
            f"{run.get('epochs')} (max_epochs {run.get('max_epochs')})",
            f"- wall time: {minutes} on {run.get('devices')} {run.get('accelerator')} "
            f"device(s), precision {run.get('precision')}",
            f"- seed: {run.get('seed', 'unknown')}"]


def card_front_matter(text: str) -> dict[str, str]:
    """The ``key: value`` lines between the leading ``---`` fences of a card.

    Args:
        text: The card's Markdown.

    Returns:
        The front-matter fields (empty when the card has none).
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    fields = {}
    for line in lines[1:]:
        if line.strip() == "---":
            break
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def build_model_card(cfg: Mapping[str, Any], manifest: Mapping[str, Any], task: str,
                     run: Mapping[str, Any] | None = None,
                     test_metrics: Mapping[str, Any] | None = None) -> str:
    """Render the card of one model.

    Args:
        cfg: The model config as stored (plain mapping, with ``target``).
        manifest: The archive manifest (versions, ``parameters``).
        task: What the model does, e.g. ``"reconstruction"``.
        run: :func:`run_facts` of the training run (plus ``seed``), if any.
        test_metrics: ``{metric: value}`` of the test that followed training, if any.

    Returns:
        The Markdown text.
    """
    target = str(cfg.get("target") or manifest.get("target") or "unknown")
    name = cfg.get("model_name") or target.rsplit(".", 1)[-1]
    params = manifest.get("parameters") or {}
    license_ = cfg.get("license") or LICENSE_PLACEHOLDER
    versions = dict(manifest.get("distributions") or {})
    versions.setdefault("atommic-core", manifest.get("atommic_core_version"))
    lines = [
        "---", f"model: {name}", f"task: {task}", f"license: {license_}", "library: atommic",
        "---", "", f"# {name} ({task})", "",
        "## Model", f"- class: `{target}`",
        f"- parameters: {params.get('total', 'unknown')} "
        f"({params.get('trainable', 'unknown')} trainable)", "",
        "## Training data", *_data_lines(cfg), "",
        "## Evaluation", *_metric_lines(test_metrics, cfg.get("evaluation_convention")), "",
        "## Training budget", *_budget_lines(run), "",
        "## Versions", *(f"- {k}: {v}" for k, v in sorted(versions.items())),
        f"- python: {platform.python_version()}", "",
        "## License", f"{license_}", "",
        "## Notes", "Intended use, limitations and caveats: edit this section.", "",
    ]
    return "\n".join(lines)
