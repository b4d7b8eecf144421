"""``python -m atommic_rec``: ``make-demo-data OUT``, ``demo`` and ``convert ismrmrd IN OUT``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from atommic_core.cli.subcommands import dispatch


def _make_demo_data(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m atommic_rec make-demo-data",
        description="Write a small simulated fastMRI-format multi-coil dataset "
                    "(train/val/test) from the ICBM152 T1 template (or a phantom). "
                    "--variant heldout writes a test set deliberately unlike the demo data "
                    "(another subject, contrast, orientation, coil geometry and size) to "
                    "measure generalisation.")
    parser.add_argument("out", help="output folder")
    parser.add_argument("--variant", choices=("demo", "heldout"), default="demo")
    parser.add_argument("--coils", type=int, help="default: 8 (demo), 12 (heldout)")
    parser.add_argument("--size", type=int, help="image side in pixels; default 128 / 160")
    parser.add_argument("--volumes", type=int, nargs=3, metavar=("TRAIN", "VAL", "TEST"),
                        help="default: 4 2 2 (demo), 0 0 4 (heldout)")
    parser.add_argument("--slices", type=int, help="slices per volume; default 8")
    parser.add_argument("--noise", type=float,
                        help="k-space noise std relative to the image maximum; default 0.01 / "
                             "0.02")
    parser.add_argument("--seed", type=int, help="default: 0 (demo), 1000 (heldout)")
    parser.add_argument("--source", choices=("auto", "icbm152", "phantom"), default="auto")
    parser.add_argument("--contrast", choices=("t1", "t2"),
                        help="heldout only: t1 (default) or t2 (synthesised from the GM/WM "
                             "maps: a contrast shift too)")
    args = parser.parse_args(argv)
    from atommic_rec.data.demo_data import make_demo_data
    from atommic_rec.data.heldout_data import make_heldout_data

    given = {k: v for k, v in vars(args).items()
             if v is not None and k not in ("out", "variant")}
    if args.variant == "demo":
        if "contrast" in given:
            parser.error("--contrast applies to --variant heldout only")
        record = make_demo_data(args.out, **given)
    else:
        record = make_heldout_data(args.out, **given)
    counts = ", ".join(f"{k}: {len(v)}" for k, v in record["files"].items())
    print(f"wrote {args.out} ({args.variant}, {record['source']}; {counts} volumes of "
          f"{record['slices']} slices, {record['coils']} coils, {record['size']}x"
          f"{record['size']})")
    return 0


def _demo(argv: Sequence[str]) -> int:
    from atommic_rec.demo import main  # lazy: pulls in models and Lightning

    return int(main(list(argv)) or 0)


def _convert(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m atommic_rec convert",
        description="Convert raw scanner data to the fastMRI HDF5 layout (see "
                    "atommic_rec.data.ismrmrd_convert for the mapping).")
    parser.add_argument("format", choices=("ismrmrd",), help="input format")
    parser.add_argument("inputs", nargs="+", metavar="IN.h5", help="ISMRMRD file(s)")
    parser.add_argument("out", metavar="OUT_DIR", help="output folder")
    args = parser.parse_args(argv)
    from atommic_core.errors import AtommicError
    from atommic_rec.data.ismrmrd_convert import convert_ismrmrd

    for path in args.inputs:
        try:
            print(f"wrote {convert_ismrmrd(path, args.out)}")
        except (AtommicError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0


COMMANDS = {
    "make-demo-data": ("OUT", "write simulated fastMRI-format demo data", _make_demo_data),
    "demo": ("", "train and evaluate the demo VarNet", _demo),
    "convert": ("ismrmrd IN.h5 OUT_DIR", "ISMRMRD raw data to the fastMRI layout", _convert),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch a subcommand; returns the exit status."""
    return dispatch("python -m atommic_rec", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
