#!/usr/bin/env bash
# POST a payload to the local endpoint and print the answer.
#   ./local_test/predict.sh PAYLOAD_FILE [CONTENT_TYPE] [ACCEPT]
#   ./local_test/predict.sh local_test/payloads/cars.csv text/csv application/json
# BYOC_URL overrides the endpoint (default http://127.0.0.1:8080).
set -euo pipefail
if [ $# -lt 1 ]; then
    sed -n '2,5p' "$0" >&2
    exit 2
fi
payload=$1
if [ ! -f "$payload" ]; then
    echo "predict.sh: no such payload file: $payload" >&2
    exit 2
fi
case "$payload" in
    *.json) default_type=application/json ;;
    *.jsonl) default_type=application/jsonlines ;;
    *.npy) default_type=application/x-npy ;;
    *) default_type=text/csv ;;
esac
content_type=${2:-$default_type}
accept=${3:-application/json}
url=${BYOC_URL:-http://127.0.0.1:8080}
curl --silent --show-error --max-time 60 --write-out '\nHTTP %{http_code}\n' \
    -H "Content-Type: $content_type" -H "Accept: $accept" \
    --data-binary "@$payload" "$url/invocations"
