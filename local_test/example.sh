#!/usr/bin/env bash
# The main job, on a fresh machine: build the example image, train it if there is no model
# yet, serve it as a SageMaker endpoint would (serve_local.sh) and show /ping and a
# prediction. Without Docker it says so and serves the embedded example as a local process,
# through the same /ping and /invocations contract.
#   bash local_test/example.sh            (PORT=8080; BYOC_SETUP_DOCKER=1 installs and starts
#                                          Docker on a Debian/Ubuntu machine as root)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
port=${PORT:-8080}
url="http://127.0.0.1:$port"

if [ ! -x .venv/bin/byoc ]; then
    echo "== installing byoc into .venv"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet -e .
fi

fallback() {
    echo "$1"
    echo "Serving the embedded example (Auto MPG, a numpy linear model) as a local process instead:"
    if [ "${BYOC_DEMO_ONCE:-0}" = 1 ]; then
        exec .venv/bin/byoc demo --port "$port" --once
    fi
    exec .venv/bin/byoc demo --port "$port"
}

if [ "${BYOC_SETUP_DOCKER:-0}" = 1 ]; then
    bash .ci/docker-setup.sh >/dev/null
fi
problem=$(.venv/bin/python -c "from byoc.local import docker_available; print(docker_available() or '')")
if [ -n "$problem" ]; then
    fallback "Docker is not available here: $problem."
fi

base=${BASE_IMAGE:-}
if [ -z "$base" ] && docker image inspect byoc-base:bookworm >/dev/null 2>&1; then
    base=byoc-base:bookworm  # the Debian base .ci/docker-setup.sh builds without Docker Hub
fi
echo "== building the image (container/build.sh)"
if ! image=$(container/build.sh ${base:+--base "$base"} --name "${BYOC_IMAGE_NAME:-byoc}" 2>/tmp/byoc-build.log | tail -1); then
    tail -5 /tmp/byoc-build.log
    fallback "Building the image failed (log: /tmp/byoc-build.log)."
fi
echo "built $image"

if [ ! -f local_test/test_dir/model/model.keras ]; then
    echo "== training the example (local_test/train_local.sh)"
    ./local_test/train_local.sh "$image" --no-network
fi

echo "== serving (local_test/serve_local.sh)"
./local_test/serve_local.sh "$image" --port "$port" --detach --name byoc-example
echo "== GET $url/ping"
curl --silent --show-error --max-time 5 --write-out 'HTTP %{http_code}\n' "$url/ping"
echo "== POST $url/invocations with local_test/payloads/cars.csv"
BYOC_URL=$url ./local_test/predict.sh local_test/payloads/cars.csv text/csv application/json
echo "The endpoint keeps serving on $url. Stop it with: docker stop byoc-example"
