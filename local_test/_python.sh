# Sourced by the local_test scripts: the Python that has byoc (the repo's .venv first).
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$repo/.venv/bin/python" ]; then
    PY="$repo/.venv/bin/python"
else
    PY=${PYTHON:-python3}
    PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}"
    export PYTHONPATH
fi
cd "$repo"
