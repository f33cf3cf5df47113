# Sourced by the other scripts: the project's root as the working directory, and the byoc
# command (BYOC overrides it, e.g. BYOC="python -m byoc").
cd "$(dirname "${BASH_SOURCE[0]}")/.."
read -r -a BYOC_CMD <<<"${BYOC:-byoc}"
if ! command -v "${BYOC_CMD[0]}" >/dev/null 2>&1; then
    echo "byoc is not on PATH: pip install wheels/byoc-*.whl (or set BYOC)" >&2
    exit 2
fi
