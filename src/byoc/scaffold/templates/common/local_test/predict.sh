#!/usr/bin/env bash
# POST a payload to the local endpoint and print the answer.
#   ./local_test/predict.sh [PAYLOAD_FILE] [CONTENT_TYPE] [ACCEPT]
# Default: local_test/payloads/sample.csv as text/csv, answered in application/json.
# BYOC_URL overrides the endpoint (default http://127.0.0.1:8080).
set -euo pipefail
payload=${1:-local_test/payloads/sample.csv}
if [ ! -f "$payload" ]; then
    echo "predict.sh: no such payload file: $payload" >&2
    exit 2
fi
case "$payload" in
    *.json) default_type=application/json ;;
    *) default_type=text/csv ;;
esac
curl --silent --show-error --max-time 60 --write-out '\nHTTP %{http_code}\n' \
    -H "Content-Type: ${2:-$default_type}" -H "Accept: ${3:-application/json}" \
    --data-binary "@$payload" "${BYOC_URL:-http://127.0.0.1:8080}/invocations"
