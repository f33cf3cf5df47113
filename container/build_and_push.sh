#!/usr/bin/env bash
# Build the image for linux/amd64 and push it to ECR, for those who want a shell script:
#
#   container/build_and_push.sh [REPOSITORY] [-- byoc push options, e.g. --region eu-west-1]
#
# What it runs: container/build.sh, then `byoc push IMAGE --repository REPOSITORY` (account
# from STS, repository created with scan on push, ECR login, tags VERSION, VERSION-REVISION
# and latest). Prints the image URI SageMaker takes on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repository=byoc
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    repository=$1
    shift
fi
if [ "${1:-}" = "--" ]; then
    shift
fi

if ! command -v byoc >/dev/null 2>&1; then
    echo "build_and_push.sh: the byoc command is needed: pip install -e '.[aws]'" >&2
    exit 2
fi
image=$("$here/build.sh" --name "$repository" | tail -1)
byoc push "$image" --repository "$repository" "$@"
