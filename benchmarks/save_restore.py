"""Wall time of ``save_to`` and ``restore_from`` for a ~30M-parameter model.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/save_restore.py [--params 30e6] [--repeat 3]
        [--folder /tmp] [--device cpu|cuda]

Prints one JSON line: parameter count, archive size, and the best / median wall time of
save, restore (full) and restore with ``return_config=True``. The archive goes to
``--folder`` (default: the system temp folder) and is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import torch
from torch import nn

from atommic_core import ModelPT


class WideModel(ModelPT):
    """A stack of square linear layers: ``layers`` x (``width``^2 + ``width``) parameters."""

    def __init__(self, cfg, trainer=None) -> None:
        super().__init__(cfg, trainer)
        width, layers = int(self.cfg.width), int(self.cfg.layers)
        self.body = nn.Sequential(*[nn.Linear(width, width) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _time(fn, repeat: int) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return times, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=float, default=30e6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--folder", default=tempfile.gettempdir())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    layers = 8
    width = int((args.params / layers) ** 0.5)
    torch.manual_seed(0)
    model = WideModel({"width": width, "layers": layers}).to(args.device)
    n_params = sum(p.numel() for p in model.parameters())
    path = os.path.join(args.folder, f"bench_{os.getpid()}.atommic")
    try:
        save_times, _ = _time(lambda: model.save_to(path), args.repeat)
        cfg_times, _ = _time(lambda: ModelPT.restore_from(path, return_config=True),
                             args.repeat)

        def restore():
            restored = ModelPT.restore_from(path, map_location=args.device)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            return restored

        restore_times, restored = _time(restore, args.repeat)
        same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                     restored.state_dict().values(), strict=True))
        size = os.path.getsize(path)
    finally:
        if os.path.exists(path):
            os.remove(path)

    def summary(times: list[float]) -> dict[str, float]:
        return {"best_s": round(min(times), 3), "median_s": round(statistics.median(times), 3)}

    print(json.dumps({
        "params": n_params, "archive_mb": round(size / 2**20, 1), "device": args.device,
        "threads": torch.get_num_threads(), "python": platform.python_version(),
        "torch": torch.__version__, "repeat": args.repeat, "identical_weights": same,
        "save": summary(save_times), "restore": summary(restore_times),
        "return_config": summary(cfg_times),
    }))


if __name__ == "__main__":
    main()
