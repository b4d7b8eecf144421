"""``python -m atommic_seg``: segmentation utilities (``make-demo-data``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["PHANTOM_NOTE", "main"]

#: Printed when ``--source auto`` found no ICBM152 template and wrote the phantom.
PHANTOM_NOTE = ("nilearn is not installed, so this is the NumPy phantom, not brain anatomy; "
                "for the ICBM152 anatomy: pip install nibabel && pip install --no-deps nilearn")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m atommic_seg",
                                     description="atommic segmentation utilities")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("make-demo-data", help="write a small train/val/test demo split "
                          "(ICBM152 anatomy from nilearn, else a phantom)")
    demo.add_argument("out", help="output folder")
    demo.add_argument("--source", choices=("auto", "icbm", "phantom"), default="auto")
    demo.add_argument("--format", choices=("nifti", "hdf5"), default="nifti", dest="fmt")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--splits", type=int, nargs=3, default=(6, 2, 2),
                      metavar=("TRAIN", "VAL", "TEST"), help="number of cases per split")
    demo.add_argument("--shape", type=int, nargs=3, default=(64, 80, 64),
                      metavar=("X", "Y", "Z"), help="volume shape (slices along Z)")
    demo.add_argument("--voxel-size", type=float, default=3.0, help="mm (isotropic)")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from atommic_seg.data.demo import make_demo_data

    try:
        info = make_demo_data(args.out, splits=args.splits, seed=args.seed, source=args.source,
                              voxel_size=args.voxel_size, shape=args.shape, fmt=args.fmt)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{k}: {len(v)}" for k, v in info["splits"].items())
    print(f"wrote {info['source']} demo data ({counts}; classes {info['classes']}) to {args.out}")
    if args.source == "auto" and info["source"] == "phantom":
        print(f"note: {PHANTOM_NOTE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
