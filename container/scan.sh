#!/usr/bin/env bash
# Vulnerability scan of an image with grype, failing on high or critical findings:
#
#   container/scan.sh IMAGE [REPORT]
#
# Writes REPORT (default scan-report.txt) whose first line is PASSED, FAILED or SKIPPED with
# the reason. It never reports a pass it did not run: with no grype, or no vulnerability
# database it can reach, the scan is SKIPPED and says why (exit 0, so a build without the
# internet still goes on; BYOC_SCAN_REQUIRED=true makes a skipped scan fail instead).
# BYOC_SCAN_OFFLINE=true uses only a database already on disk (no download).
set -uo pipefail
image=${1:?usage: container/scan.sh IMAGE [REPORT]}
report=${2:-scan-report.txt}
required=${BYOC_SCAN_REQUIRED:-false}

skip() {
    printf 'SKIPPED: %s\n' "$1" | tee "$report"
    echo "vulnerability scan of $image SKIPPED: $1" >&2
    [ "$required" = true ] && exit 1
    exit 0
}

command -v grype >/dev/null 2>&1 || skip "grype is not installed (the buildspec's install phase installs it where the internet is reachable)"
if [ "${BYOC_SCAN_OFFLINE:-false}" = true ]; then
    export GRYPE_DB_AUTO_UPDATE=false  # use the database on disk, fetch nothing
    grype db check >/dev/null 2>&1 || skip "BYOC_SCAN_OFFLINE=true and no vulnerability database on disk"
elif ! db=$(grype db update 2>&1) && ! grype db check >/dev/null 2>&1; then
    skip "no vulnerability database could be reached or found ($(printf '%s' "$db" | tail -1))"
fi
grype "docker:$image" --fail-on high -o table > "$report.findings" 2>&1
status=$?
if [ $status -eq 0 ]; then
    { echo "PASSED: no high or critical vulnerabilities in $image"; cat "$report.findings"; } > "$report"
else
    { echo "FAILED: grype exit $status (high or critical vulnerabilities, or a scan error)"; cat "$report.findings"; } > "$report"
fi
rm -f "$report.findings"
head -1 "$report"
exit $status
