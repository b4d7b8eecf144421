"""``python -m atommic_core export ARCHIVE OUT.onnx``: a model as an ONNX graph, checked.

A model opts in with ``onnx_export_spec(shape)`` returning an :class:`OnnxSpec`: a plain
``nn.Module`` with real-valued inputs and outputs and example inputs of the export shape.
The export uses PyTorch's ``torch.export``-based exporter (``onnxscript``), which carries
complex tensors as real tensors with a trailing dimension of 2 and translates complex FFTs to
the ONNX ``DFT`` operator; :class:`_ComplexExportMode` rewrites the few complex operations it
lacks (``unsqueeze``) into ones it has (``reshape``), during the export only. After writing,
onnxruntime runs the graph on the example inputs and the largest difference from PyTorch is
checked against ``atol`` (default 1e-4). A model that cannot be exported says why in one line
(:class:`ExportError`).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from atommic_core.errors import AtommicError

__all__ = ["ExportError", "OnnxSpec", "check_onnx", "export_onnx"]

INSTALL_HINT = "pip install 'atommic-core[onnx]'"


class ExportError(AtommicError):
    """The model cannot be exported to ONNX; the message says why."""


@dataclass
class OnnxSpec:
    """What to export: a real-valued module and example inputs.

    Args:
        module: ``nn.Module`` whose ``forward`` takes ``inputs`` positionally.
        inputs: Example tensors (their shapes are the graph's shapes).
        input_names: Names of the graph inputs.
        output_names: Names of the graph outputs.
    """

    module: Any
    inputs: tuple[Any, ...]
    input_names: Sequence[str]
    output_names: Sequence[str]


def _complex_export_mode() -> Any:
    import torch
    from torch.overrides import TorchFunctionMode

    class _ComplexExportMode(TorchFunctionMode):
        """Rewrite complex ``unsqueeze`` (no complex ONNX translation) as ``reshape``."""

        def __torch_function__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            if func in (torch.Tensor.unsqueeze, torch.unsqueeze) and args and \
                    torch.is_tensor(args[0]) and args[0].is_complex():
                x = args[0]
                dim = args[1] if len(args) > 1 else kwargs["dim"]
                dim = dim if dim >= 0 else x.dim() + 1 + dim
                shape = list(x.shape)
                shape.insert(dim, 1)
                return x.reshape(shape)
            return func(*args, **kwargs)

    return _ComplexExportMode()


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise AtommicError(f"ONNX export needs {module}, which is not installed; install it "
                           f"with: {INSTALL_HINT}") from None


def spec_of(model: Any, shape: Sequence[int] | None = None) -> OnnxSpec:
    """The model's :class:`OnnxSpec`, or an :class:`ExportError` saying why there is none.

    Args:
        model: A ``ModelPT`` (in eval mode after this call).
        shape: Shape of the main input (see the collection's docs); ``None``: its default.

    Returns:
        The spec.
    """
    if not hasattr(model, "onnx_export_spec"):
        raise ExportError(f"{type(model).__name__} cannot be exported to ONNX: it defines no "
                          "onnx_export_spec() (its inputs are not known)")
    model.eval()
    return model.onnx_export_spec(tuple(shape) if shape else None)


def check_onnx(path: str, spec: OnnxSpec) -> float:
    """Run the graph with onnxruntime on the spec's inputs; the largest absolute difference.

    Args:
        path: The ``.onnx`` file.
        spec: The spec it was exported from.

    Returns:
        ``max |onnxruntime - PyTorch|`` over all outputs.
    """
    import numpy as np
    import torch

    ort = _require("onnxruntime")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {name: t.detach().cpu().numpy() for name, t in zip(
        spec.input_names, spec.inputs, strict=True)}
    got = session.run(None, feeds)
    with torch.no_grad():
        ref = spec.module(*spec.inputs)
    refs = ref if isinstance(ref, list | tuple) else [ref]
    return max(float(np.max(np.abs(g - r.detach().cpu().numpy()))) for g, r in zip(
        got, refs, strict=True))


def export_onnx(model: Any, path: str | os.PathLike, shape: Sequence[int] | None = None,
                atol: float = 1e-4) -> dict[str, Any]:
    """Export a model to ONNX, then check onnxruntime against PyTorch.

    Args:
        model: The ``ModelPT`` to export.
        path: Destination ``.onnx`` (written to a temporary name, then renamed).
        shape: Shape of the main input (``None``: the model's default).
        atol: Largest accepted absolute difference between onnxruntime and PyTorch.

    Returns:
        ``{"path", "inputs": {name: shape}, "outputs", "max_abs_diff"}``.
    """
    import torch

    _require("onnx")
    _require("onnxscript")
    spec = spec_of(model, shape)
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}.onnx"
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            with torch.no_grad(), _complex_export_mode():
                program = torch.onnx.export(spec.module, spec.inputs, dynamo=True,
                                            input_names=list(spec.input_names),
                                            output_names=list(spec.output_names))
            program.save(tmp, external_data=False)
        diff = check_onnx(tmp, spec)
        if not diff <= atol:
            raise ExportError(f"{type(model).__name__}: onnxruntime differs from PyTorch by "
                              f"{diff:.3g} (> atol {atol:g}); the export is not faithful")
        os.replace(tmp, path)
    except AtommicError:
        raise
    except Exception as exc:  # the exporter's errors are pages long: keep one line
        first = next((line for line in str(exc).splitlines() if "No ONNX function" in line),
                     str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
        raise ExportError(f"{type(model).__name__} cannot be exported to ONNX: "
                          f"{type(exc).__name__}: {first.strip()[:300]}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"path": os.path.abspath(path),
            "inputs": {n: list(t.shape) for n, t in zip(spec.input_names, spec.inputs,
                                                         strict=True)},
            "outputs": list(spec.output_names), "max_abs_diff": diff}
