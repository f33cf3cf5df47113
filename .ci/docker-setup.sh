#!/usr/bin/env bash
# Bring up a Docker engine and a local base image without Docker Hub (see shared/ENVIRONMENT.md).
# Idempotent: reuses a running daemon and an existing base image (a second CI run is fast).
# Prints the base image name on its last line.
set -euo pipefail

BASE_IMAGE=${BYOC_BASE_IMAGE:-byoc-base:bookworm}
SUITE=${BYOC_BASE_SUITE:-bookworm}
MIRROR=${BYOC_DEBIAN_MIRROR:-http://deb.debian.org/debian}

need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
# A local registry for the push tests (ECR itself cannot be reached from here).
command -v docker-registry >/dev/null 2>&1 || need_apt+=(docker-registry)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing ${need_apt[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >&2
fi

if ! docker info >/dev/null 2>&1; then
    echo "starting dockerd" >&2
    setsid dockerd --storage-driver=overlay2 >/tmp/dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 120); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        echo "dockerd did not start; its log:" >&2
        tail -30 /tmp/dockerd.log >&2
        exit 1
    fi
fi

# The base holds Debian's CA bundle only: the proxy's CA, which pip needs in `docker build`,
# is handed to the build by container/build.sh (PIP_CERT) and never lands in a layer. A base
# of ours from before that (it had the host's bundle copied in) has no byoc.base label and
# is rebuilt; any other existing image named by BYOC_BASE_IMAGE is used as it is.
BASE_REVISION=2
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    stale=true
elif [ "$BASE_IMAGE" = "byoc-base:$SUITE" ]; then
    current=$(docker image inspect -f '{{index .Config.Labels "byoc.base"}}' "$BASE_IMAGE")
    [ "$current" = "$BASE_REVISION" ] && stale=false || stale=true
else
    stale=false
fi
if [ "$stale" = true ]; then
    echo "building base image $BASE_IMAGE with debootstrap ($SUITE)" >&2
    rootfs=$(mktemp -d /tmp/byoc-rootfs.XXXXXX)
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,ca-certificates \
        "$SUITE" "$rootfs" "$MIRROR" >/tmp/debootstrap.log 2>&1 || {
        tail -30 /tmp/debootstrap.log >&2
        exit 1
    }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import --change "LABEL byoc.base=$BASE_REVISION" - "$BASE_IMAGE" >/dev/null
fi
echo "$BASE_IMAGE"
