#!/usr/bin/env bash
# Run IMAGE as a SageMaker batch transform job would over local files: `serve` with no
# outside network, /execution-parameters asked, every file of the input folder split by line
# and sent in MultiRecord requests, one <name>.out per file in the output folder.
# The model is local_test/test_dir/model (after train_local.sh), else
# local_test/test_dir/output/model.tar.gz, or MODEL=path.
#   ./local_test/transform_local.sh [IMAGE] [--input DIR] [--output DIR] [byoc local transform
#       options, e.g. --batch-strategy SingleRecord --max-concurrent 2 --join-source Input]
set -euo pipefail
. "$(dirname "$0")/_python.sh"
image=${BYOC_IMAGE:-byoc:latest}
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    image=$1
    shift
fi
input=local_test/transform_input
output=local_test/transform_output
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --input) input=$2; shift 2 ;;
        --output) output=$2; shift 2 ;;
        *) extra+=("$1"); shift ;;
    esac
done
model=${MODEL:-local_test/test_dir/model}
if [ -z "${MODEL:-}" ] && [ ! -f "$model/model.keras" ] && [ -f local_test/test_dir/output/model.tar.gz ]; then
    model=local_test/test_dir/output/model.tar.gz
fi
exec "$PY" -m byoc local transform "$image" --model "$model" --input "$input" \
    --output "$output" --accept text/csv "${extra[@]}"
