#!/usr/bin/env bash
# The test command: set up .venv if needed, lint, then run every test (slow ones included).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh
.venv/bin/ruff check .
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
