#!/usr/bin/env bash
# Build the byoc image for linux/amd64 (what SageMaker runs), tagged with the version and the
# git revision. Prints the image name (NAME:VERSION-REVISION) on its last line.
#
#   container/build.sh [--base IMAGE] [--name NAME] [-- extra docker build args]
#
# BASE_IMAGE defaults to python:3.11-slim-bookworm (Docker Hub). Where Docker Hub is out of
# reach, .ci/docker-setup.sh builds a local Debian base and prints its name.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

name=${BYOC_IMAGE_NAME:-byoc}
base=${BASE_IMAGE:-}
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --base) base=$2; shift 2 ;;
        --name) name=$2; shift 2 ;;
        --) shift; extra+=("$@"); break ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -1)
# The revision label: BYOC_REVISION, else CodeBuild's commit, else git's (with -dirty).
revision=${BYOC_REVISION:-}
if [ -z "$revision" ] && [ -n "${CODEBUILD_RESOLVED_SOURCE_VERSION:-}" ]; then
    revision=${CODEBUILD_RESOLVED_SOURCE_VERSION:0:12}
fi
if [ -z "$revision" ]; then
    revision=$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git -C "$repo" status --porcelain 2>/dev/null)" ]; then
        revision="$revision-dirty"
    fi
fi
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
tag="$name:$version-$revision"

args=(--platform linux/amd64
      --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "CREATED=$created"
      -f "$here/Dockerfile" -t "$tag" -t "$name:$version" -t "$name:latest")
[ -n "$base" ] && args+=(--build-arg "BASE_IMAGE=$base")
# Behind a TLS-inspecting proxy, pip inside the build needs the host's CA bundle.
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
    case "$PIP_CERT" in
        /etc/ssl/certs/ca-certificates.crt) args+=(--build-arg "PIP_CERT=$PIP_CERT") ;;
    esac
fi

echo "building $tag (base: ${base:-python:3.11-slim-bookworm})" >&2
docker build "${args[@]}" "${extra[@]}" "$repo" >&2
echo "$tag"
