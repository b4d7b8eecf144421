"""``python -m atommic_core``: the command-line interface."""

from atommic_core.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
