#!/usr/bin/env bash
# Run IMAGE as a SageMaker multi-model endpoint would: `serve` with SAGEMAKER_MULTI_MODEL=true
# over a folder of model archives (the endpoint's S3 prefix): MODELS=dir, else
# local_test/test_dir/output/models, made from output/model.tar.gz (after train_local.sh) as
# m1.tar.gz, a/b/m2.tar.gz and c/m3.tar.gz. Port 8080 on 127.0.0.1; Ctrl-C stops it. Then:
#   byoc local invoke --target-model a/b/m2.tar.gz local_test/payloads/cars.csv
#   ./local_test/serve_mme_local.sh [IMAGE] [byoc local serve options, e.g.
#       --env BYOC_MME_MAX_MODELS=2 --detach]
set -euo pipefail
. "$(dirname "$0")/_python.sh"
image=${BYOC_IMAGE:-byoc:latest}
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    image=$1
    shift
fi
models=${MODELS:-local_test/test_dir/output/models}
if [ -z "${MODELS:-}" ] && [ ! -d "$models" ]; then
    archive=local_test/test_dir/output/model.tar.gz
    if [ ! -f "$archive" ]; then
        echo "serve_mme_local.sh: no MODELS and no $archive (run train_local.sh)" >&2
        exit 2
    fi
    for target in m1.tar.gz a/b/m2.tar.gz c/m3.tar.gz; do
        mkdir -p "$models/$(dirname "$target")"
        cp "$archive" "$models/$target"
    done
fi
exec "$PY" -m byoc local serve "$image" --models "$models" "$@"
