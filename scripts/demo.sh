#!/usr/bin/env bash
# The demo: set up .venv if needed, make demo data, train a small VarNet, compare with zero-filled.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh
exec .venv/bin/python -m atommic_rec demo "$@"
