#!/usr/bin/env bash
# Create or update .venv at the repository root with every atommic distribution (editable),
# torch 2.13.0 (installed first, alone, so no other requirement can pull a CUDA build) and the
# test tools. Idempotent: a stamp of the install inputs makes a second run return at once.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
py="${PYTHON:-$(command -v python3.11 || command -v python3)}"

inputs=(scripts/setup_env.sh constraints.txt requirements-dev.txt pyproject.toml
        atommic_*/pyproject.toml plugins/*/pyproject.toml)
stamp="$("$py" -c 'import sys; print(sys.version)' | cat - "${inputs[@]}" | sha256sum | cut -c1-16)"

# One installer at a time (e.g. `demo` and `test` started together on a fresh clone).
exec 9>"$root/.venv.lock"
flock 9

if [[ -f "$venv/.atommic-stamp" && "$(cat "$venv/.atommic-stamp")" == "$stamp" ]] \
   && "$venv/bin/python" -c "import atommic_core, torch" 2>/dev/null; then
  exit 0
fi

start=$(date +%s)
[[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)
"${pip[@]}" torch==2.13.0
"${pip[@]}" -c constraints.txt setuptools wheel
editable=()
for d in atommic_core atommic_rec atommic_seg atommic_qi atommic_mtl plugins/*/; do
  editable+=(-e "./${d%/}")
done
"${pip[@]}" -c constraints.txt --no-build-isolation "${editable[@]}" -r requirements-dev.txt
"${pip[@]}" -c constraints.txt --no-deps nilearn   # ships the ICBM152 template for demo data
echo "$stamp" > "$venv/.atommic-stamp"
echo "setup_env: .venv ready in $(( $(date +%s) - start ))s" >&2
