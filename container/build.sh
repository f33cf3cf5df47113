#!/usr/bin/env bash
# Build the byoc image for linux/amd64 (what SageMaker runs), tagged with the version and the
# git revision. Prints the image name (NAME:VERSION-REVISION) on its last line.
#
#   container/build.sh [--base IMAGE] [--name NAME] [--serve-only] [-- extra docker build args]
#
# --serve-only builds the serving-only image instead (LiteRT and numpy, no TensorFlow; it
# serves the model.tflite the full image's training writes), tagged
# NAME:VERSION-REVISION-serve-only, NAME:VERSION-serve-only and NAME:serve-only.
#
# BASE_IMAGE defaults to python:3.11-slim-bookworm (Docker Hub). Where Docker Hub is out of
# reach, .ci/docker-setup.sh builds a local Debian base and prints its name. PIP_CERT names
# the CA bundle pip needs behind a TLS-inspecting proxy (used by the build, not kept).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

name=${BYOC_IMAGE_NAME:-byoc}
base=${BASE_IMAGE:-}
extra=()
target=full
while [ $# -gt 0 ]; do
    case "$1" in
        --base) base=$2; shift 2 ;;
        --name) name=$2; shift 2 ;;
        --serve-only) target=serve-only; shift ;;
        --) shift; extra+=("$@"); break ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
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
if [ "$target" = full ]; then
    suffix="" latest=latest
else
    suffix="-$target" latest=$target
fi
tag="$name:$version-$revision$suffix"

args=(--platform linux/amd64
      --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "CREATED=$created"
      -f "$here/Dockerfile" --target "$target"
      -t "$tag" -t "$name:$version$suffix" -t "$name:$latest")
[ -n "$base" ] && args+=(--build-arg "BASE_IMAGE=$base")
# Behind a TLS-inspecting proxy pip needs the proxy's CA (PIP_CERT, a CA bundle on this
# machine): it goes in as a one-file image that only the Dockerfile's download stages read,
# never a layer of the image. Proxy variables are Docker's predefined build arguments, which
# `docker history` leaves out; passed by name, their values are not on this command line.
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
    ca_image=byoc-build-ca:$(sha256sum "$PIP_CERT" | cut -c1-12)
    if ! docker image inspect "$ca_image" >/dev/null 2>&1; then
        ca_root=$(mktemp -d)
        mkdir -p "$ca_root/etc/ssl/certs"
        cp "$PIP_CERT" "$ca_root/etc/ssl/certs/ca-certificates.crt"
        tar -C "$ca_root" -c etc | docker import - "$ca_image" >/dev/null
        rm -rf "$ca_root"
    fi
    args+=(--build-arg "BUILD_CA_IMAGE=$ca_image")
fi
for proxy in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
    if [ -n "${!proxy:-}" ]; then args+=(--build-arg "$proxy"); fi
done

echo "building $tag ($target; base: ${base:-python:3.11-slim-bookworm})" >&2
docker build "${args[@]}" "${extra[@]}" "$repo" >&2
echo "$tag"
