#!/usr/bin/env bash
# A venv of its own for the SageMaker Python SDK v3, which cannot share .venv with the v2
# that tests/test_sdk_local_mode.py uses. tests/test_sdk_v3.py runs tests/sdk3/drive.py with it.
# Idempotent: a venv that already holds the pinned versions is left alone (no pip run).
# Prints the venv's python on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${BYOC_SDK3_VENV:-.venv-sdk3}
# The range drive.py was checked with (3.27); the parts it reads are pinned with it, as
# sagemaker 3.x itself lets them float within their major versions.
REQUIREMENTS=("sagemaker>=3.27,<3.28" "sagemaker-core>=2.27,<2.28" "sagemaker-train>=1.27,<1.28")

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
echo '*' >"$VENV/.gitignore" # git ignores the venv wherever it is (Python 3.13's venv does this)
if ! "$VENV/bin/python" - "${REQUIREMENTS[@]}" <<'EOF' 2>/dev/null; then
import sys
from importlib.metadata import version

from packaging.requirements import Requirement

for line in sys.argv[1:]:
    requirement = Requirement(line)
    if version(requirement.name) not in requirement.specifier:
        sys.exit(1)
EOF
    echo "installing ${REQUIREMENTS[*]} into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet "${REQUIREMENTS[@]}" >&2
fi
echo "$(cd "$VENV" && pwd)/bin/python"
