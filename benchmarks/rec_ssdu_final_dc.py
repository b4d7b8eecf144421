"""SSDU ablation: score a trained row of ``rec_generalisation.py`` with and without the final
data consistency (``model.final_data_consistency``) on the demo test split.

    OMP_NUM_THREADS=1 python benchmarks/rec_ssdu_final_dc.py --out /tmp/gen --row varnet_ssdu

Prints the per-volume-mean SSIM/PSNR/NMSE of both (fastMRI convention, ``rec_score.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rec_score import CONVENTION, mean, run_cli, score_predictions


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="the --out of rec_generalisation.py")
    p.add_argument("--row", default="varnet_ssdu")
    p.add_argument("--config", default="rec_demo_varnet")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    run = Path(args.out).resolve() / "runs" / args.row
    data = Path(args.out).resolve() / "demo_data"
    archive = next((run / args.config / "run" / "checkpoints").glob("*.atommic"))
    print(f"{args.row}, demo test split ({CONVENTION})")
    for dc in ("true", "false"):
        out_dir = run / f"predict_demo_final_dc_{dc}"
        run_cli("predict", args.config, [
            f"exp_manager.exp_dir={run}", "+exp_manager.version=run",
            "exp_manager.resume_if_exists=false", f"model.data_root={data}",
            f"+model.restore_path={archive}", f"+exp_manager.output_dir={out_dir}",
            f"++model.final_data_consistency={dc}"], args.threads, run / f"predict_dc_{dc}.log")
        m = mean(score_predictions(out_dir / "predictions", data / "test", "sense"))
        print(f"final_data_consistency={dc}: SSIM {m['ssim']:.4f}  PSNR {m['psnr']:.2f}  "
              f"NMSE {m['nmse']:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
