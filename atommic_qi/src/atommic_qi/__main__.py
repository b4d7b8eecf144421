"""``python -m atommic_qi``: ``make-demo-data OUT [...]`` and ``demo [...]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from atommic_core.cli.subcommands import dispatch


def _make_demo_data(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m atommic_qi make-demo-data",
        description="Write simulated multi-echo GRE data (train/val/test) from the ICBM152 "
                    "GM/WM/CSF maps (or a phantom): kspace [slices, echoes, coils, H, W], "
                    "true maps R2* (1/s), S0 (a.u.), B0 (Hz), phi (rad), TEs in ms.")
    parser.add_argument("out", help="output folder")
    parser.add_argument("--coils", type=int, default=4)
    parser.add_argument("--size", type=int, default=96, help="image side in pixels")
    parser.add_argument("--volumes", type=int, nargs=3, default=[4, 2, 2],
                        metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--slices", type=int, default=6, help="slices per volume")
    parser.add_argument("--noise", type=float, default=0.01,
                        help="k-space noise std relative to the first echo's maximum")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source", choices=("auto", "icbm152", "phantom"), default="auto")
    args = parser.parse_args(argv)
    from atommic_qi.data.demo_data import make_qi_demo_data

    record = make_qi_demo_data(args.out, coils=args.coils, size=args.size, volumes=args.volumes,
                               slices=args.slices, noise=args.noise, seed=args.seed,
                               source=args.source)
    counts = ", ".join(f"{k}: {len(v)}" for k, v in record["files"].items())
    print(f"wrote {args.out} ({record['source']}; {counts} volumes of {args.slices} slices, "
          f"{len(record['TEs_ms'])} echoes, {args.coils} coils, {args.size}x{args.size})")
    return 0


def _demo(argv: Sequence[str]) -> int:
    from atommic_qi.demo import main  # lazy: pulls in models and Lightning

    return int(main(list(argv)) or 0)


COMMANDS = {
    "make-demo-data": ("OUT", "write simulated multi-echo GRE demo data", _make_demo_data),
    "demo": ("", "train the demo qCIRIM and compare it with qZeroFilled", _demo),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch a subcommand; returns the exit status."""
    return dispatch("python -m atommic_qi", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
