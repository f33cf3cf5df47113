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

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "building base image $BASE_IMAGE with debootstrap ($SUITE)" >&2
    rootfs=$(mktemp -d /tmp/byoc-rootfs.XXXXXX)
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,ca-certificates \
        "$SUITE" "$rootfs" "$MIRROR" >/tmp/debootstrap.log 2>&1 || {
        tail -30 /tmp/debootstrap.log >&2
        exit 1
    }
    # Package downloads here pass through a proxy with its own CA: pip in `docker build` needs it.
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    fi
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import - "$BASE_IMAGE" >/dev/null
fi
echo "$BASE_IMAGE"
