"""Which registered models export to ONNX: export each (small config), compare onnxruntime.

Every model of the model registry (all installed collections) is built from a small config
(``SMALL`` below; models not listed use their defaults), exported with
:func:`atommic_core.onnx_export.export_onnx` at the collection's default shape and run with
onnxruntime; one line per model: ``exports`` with the largest |onnxruntime - PyTorch| and
the export time, or ``NO`` with the one-line reason.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/onnx_export_all.py [MODEL ...]
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings

SMALL = {
    "VarNet": {"num_cascades": 2, "channels": 4, "pooling_layers": 2},
    "UNet": {"channels": 4, "pooling_layers": 2},
    "CIRIM": {"num_cascades": 2, "time_steps": 2, "conv_filters": [4, 4, 2],
              "recurrent_filters": [4, 4, 0]},
    "RIM": {"time_steps": 2, "conv_filters": [4, 4, 2], "recurrent_filters": [4, 4, 0],
            "recurrent_layer": "GRU", "memory_efficient": False},
    "SegmentationUNet": {"num_classes": 3, "channels": 4, "num_pool_layers": 2},
    "SegmentationUNet3D": {"num_classes": 3, "channels": 4, "num_pool_layers": 2},
    "SegmentationAttentionUNet": {"num_classes": 3, "channels": 4, "num_pool_layers": 2},
    "SegmentationDynUNet": {"num_classes": 3},
    "SegmentationVNet": {"num_classes": 3, "channels": 4, "num_levels": 2},
    "SegmentationUNETR": {"num_classes": 3, "img_size": [32, 32, 32], "feature_size": 4,
                          "hidden_size": 32, "num_layers": 4, "num_heads": 2},
    "SegmentationLambdaUNet": {"num_classes": 3, "channels": 8, "num_pool_layers": 2},
}


def main(names: list[str]) -> int:
    """Export each model; print one line per model."""
    warnings.filterwarnings("ignore")
    import torch

    from atommic_core import registry
    from atommic_core.onnx_export import export_onnx

    torch.manual_seed(0)
    chosen = names or sorted(registry.models)
    with tempfile.TemporaryDirectory() as folder:
        for name in chosen:
            start = time.perf_counter()
            try:
                model = registry.models[name](dict(SMALL.get(name, {})))
                result = export_onnx(model, f"{folder}/{name}.onnx")
                print(f"{name}: exports, max |onnxruntime - torch| "
                      f"{result['max_abs_diff']:.1e}, inputs {result['inputs']} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
            except Exception as exc:  # noqa: BLE001 - report every model, one line each
                print(f"{name}: NO - {' '.join(str(exc).split())[:300]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
