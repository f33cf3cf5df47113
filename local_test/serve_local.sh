#!/usr/bin/env bash
# Run IMAGE as a SageMaker endpoint would: `serve`, port 8080 on 127.0.0.1, the model at
# /opt/ml/model (local_test/test_dir/model, or MODEL=path/to/model.tar.gz), no AWS
# credentials; waits for /ping and says where it listens. Ctrl-C stops it with SIGTERM.
#   ./local_test/serve_local.sh [IMAGE] [byoc local serve options, e.g. --no-network]
set -euo pipefail
. "$(dirname "$0")/_python.sh"
image=${1:-${BYOC_IMAGE:-byoc:latest}}
[ $# -gt 0 ] && shift
exec "$PY" -m byoc local serve "$image" --model "${MODEL:-local_test/test_dir/model}" "$@"
