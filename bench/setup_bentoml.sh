#!/usr/bin/env bash
# Create BentoML's own virtualenv for the benchmark's `bentoml` and `bentoml-batch` peers,
# so BentoML's dependency pins never touch the project's .venv.
#
#   bench/setup_bentoml.sh [VENV_DIR]      # default: bench/.venv-bentoml (or $BENCH_BENTOML_VENV)
#
# The interpreter is the base Python of the project's venv (or python3), and scikit-learn,
# numpy and joblib are pinned to the versions in the project's venv, so the model.joblib
# run.py writes unpickles to the same estimator and predicts with the same code.
# Idempotent: an existing venv with the right BentoML version is left as it is.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
venv="${1:-${BENCH_BENTOML_VENV:-$here/.venv-bentoml}}"
bentoml_version="${BENCH_BENTOML_VERSION:-1.4.40}"

project_py="$repo/.venv/bin/python"
[ -x "$project_py" ] || project_py="$(command -v python3)"
base_py="$("$project_py" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')"

pins=()
for dist in scikit-learn numpy joblib; do
  v="$("$project_py" -c "import importlib.metadata as m; print(m.version('$dist'))" 2>/dev/null || true)"
  if [ -n "$v" ]; then pins+=("$dist==$v"); else pins+=("$dist"); fi
done

if [ -x "$venv/bin/python" ] &&
   [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("bentoml"))' 2>/dev/null || true)" = "$bentoml_version" ]; then
  echo "setup_bentoml: $venv already has bentoml $bentoml_version"
  exit 0
fi

echo "setup_bentoml: creating $venv with $base_py: bentoml==$bentoml_version ${pins[*]}"
"$base_py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "bentoml==$bentoml_version" "${pins[@]}"
"$venv/bin/python" -c 'import bentoml, sklearn; print("setup_bentoml: bentoml", bentoml.__version__, "scikit-learn", sklearn.__version__)'
