"""``python -m atommic_mtl``: ``make-demo-data OUT [...]`` and ``demo [...]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from atommic_core.cli.subcommands import dispatch


def _make_demo_data(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m atommic_mtl make-demo-data",
        description="Write joint demo data (train/val/test): simulated multi-coil k-space of "
                    "ICBM152 T1 slices (or a phantom) with CSF/GM/WM labels on the same slices.")
    parser.add_argument("out", help="output folder")
    parser.add_argument("--coils", type=int, default=8)
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--volumes", type=int, nargs=3, default=[4, 2, 2],
                        metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--slices", type=int, default=8, help="slices per volume")
    parser.add_argument("--noise", type=float, default=0.01,
                        help="k-space noise std relative to the image maximum")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source", choices=("auto", "icbm152", "phantom"), default="auto")
    args = parser.parse_args(argv)
    from atommic_mtl.data.demo_data import make_demo_data

    record = make_demo_data(args.out, coils=args.coils, size=args.size, volumes=args.volumes,
                            slices=args.slices, noise=args.noise, seed=args.seed,
                            source=args.source)
    counts = ", ".join(f"{k}: {len(v)}" for k, v in record["files"].items())
    print(f"wrote {args.out} ({record['source']}; {counts} volumes of {args.slices} slices, "
          f"{args.coils} coils, {args.size}x{args.size}, labels {', '.join(record['classes'])})")
    return 0


def _demo(argv: Sequence[str]) -> int:
    from atommic_mtl.demo import main  # lazy: pulls in models and Lightning

    return int(main(list(argv)) or 0)


COMMANDS = {
    "make-demo-data": ("OUT", "write joint k-space + segmentation demo data", _make_demo_data),
    "demo": ("", "MTLRS vs VarNet -> U-Net at equal training time", _demo),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch a subcommand; returns the exit status."""
    return dispatch("python -m atommic_mtl", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
