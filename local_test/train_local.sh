#!/usr/bin/env bash
# Run IMAGE as a SageMaker training job would, with local_test/test_dir as /opt/ml. The
# model lands in local_test/test_dir/model (where serve_local.sh finds it) and, as
# SageMaker uploads it, in local_test/test_dir/output/model.tar.gz.
#   ./local_test/train_local.sh [IMAGE] [byoc local train options, e.g. --hosts 2 --max-runtime 60]
set -euo pipefail
. "$(dirname "$0")/_python.sh"
image=${1:-${BYOC_IMAGE:-byoc:latest}}
[ $# -gt 0 ] && shift
exec "$PY" -m byoc local train "$image" --job local_test/test_dir "$@"
