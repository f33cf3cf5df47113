#!/usr/bin/env bash
# A CycloneDX SBOM (JSON) of the Python environment inside an image:
#
#   container/sbom.sh IMAGE [OUT]      (OUT defaults to sbom.cdx.json)
#
# `cyclonedx-py environment` (cyclonedx-bom, the version of this machine's `cyclonedx-py`)
# runs inside a container of IMAGE, against the image's own interpreter /opt/byoc/bin/python,
# so it lists what is installed there (names, versions, licences, PURLs), not what a
# requirements file asked for. The tool is pip-installed into a temporary directory mounted
# read-only and kept off the scanned interpreter's path; the container has no network.
# metadata.component names the image (type container, its ID as a property); the result is
# validated against the CycloneDX 1.6 JSON schema before it is written.
set -euo pipefail
image=${1:?usage: container/sbom.sh IMAGE [OUT]}
out=${2:-sbom.cdx.json}
interpreter=/opt/byoc/bin/python

if ! tool=$(command -v cyclonedx-py); then
    echo "sbom.sh: cyclonedx-py is missing: pip install -e '.[dev]' installs cyclonedx-bom" >&2
    exit 2
fi
python=$(dirname "$tool")/python  # the environment cyclonedx-bom is installed in
[ -x "$python" ] || python=python3
version=$(cyclonedx-py --version | awk '{print $NF}')
image_id=$(docker image inspect -f '{{.Id}}' "$image")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tool" "$work/out"
"$python" -m pip install -qq --disable-pip-version-check --no-compile --no-warn-conflicts \
    --target "$work/tool" "cyclonedx-bom==$version" >&2
# The interpreter cyclonedx-py asks for its sys.path: the image's, without the tool on it.
printf '#!/bin/sh\nunset PYTHONPATH\nexec %s "$@"\n' "$interpreter" > "$work/tool/image-python"
chmod 0755 "$work/tool/image-python"
chmod 0777 "$work/out"

run=(docker run --rm --network none --user "$(id -u):$(id -g)"
     -v "$work/tool:/sbom-tool:ro" -v "$work/out:/sbom-out" -e PYTHONPATH=/sbom-tool)
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then run+=(-e SOURCE_DATE_EPOCH); fi
"${run[@]}" --entrypoint "$interpreter" "$image" \
    -m cyclonedx_py environment --output-reproducible --of JSON --sv 1.6 --no-validate \
    -o /sbom-out/sbom.cdx.json /sbom-tool/image-python

"$python" - "$work/out/sbom.cdx.json" "$out" "$image" "$image_id" <<'EOF'
import json
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

source, target, image, image_id = sys.argv[1:]
bom = json.load(open(source))
name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
component = {"type": "container", "bom-ref": image_id, "name": name}
if tag:
    component["version"] = tag
component["properties"] = [{"name": "byoc:image-id", "value": image_id}]
bom.setdefault("metadata", {})["component"] = component
text = json.dumps(bom, indent=2, sort_keys=True) + "\n"
problem = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
if problem is not None:
    sys.exit(f"sbom.sh: the SBOM is not valid CycloneDX 1.6 JSON: {problem}")
with open(target, "w") as handle:
    handle.write(text)
print(f"{target}: valid CycloneDX 1.6, {len(bom.get('components', []))} components of {image}", file=sys.stderr)
EOF
