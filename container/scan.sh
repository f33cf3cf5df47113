#!/usr/bin/env bash
# Vulnerability scan of an image with grype, failing on high or critical findings:
#
#   container/scan.sh IMAGE [REPORT]
#
# Writes REPORT (default scan-report.txt) whose first line is PASSED, FAILED or
#   SKIPPED: no vulnerability database reachable (the reason)
# It never reports a pass it did not run: with no grype, or no vulnerability database it can
# reach, the scan is SKIPPED, says so on stdout and stderr, and exits 0 so that a build
# without the internet goes on (BYOC_SCAN_REQUIRED=true makes a skipped scan fail instead).
# BYOC_SCAN_JUNIT=FILE also writes the outcome as one JUnit test case, so that a report
# group (CodeBuild's) shows a skipped scan as skipped, not as a pass.
# BYOC_SCAN_OFFLINE=true uses only a database already on disk (no download).
set -uo pipefail
image=${1:?usage: container/scan.sh IMAGE [REPORT]}
report=${2:-scan-report.txt}
required=${BYOC_SCAN_REQUIRED:-false}
junit=${BYOC_SCAN_JUNIT:-}

xml() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }

# junit STATUS MESSAGE: one test case, skipped or failed or passed
write_junit() {
    [ -n "$junit" ] || return 0
    mkdir -p "$(dirname "$junit")"
    local message outcome="" failures=0 skipped=0
    message=$(printf '%s' "$2" | xml)
    case "$1" in
        SKIPPED) outcome="<skipped message=\"$message\"/>"; skipped=1 ;;
        FAILED) outcome="<failure message=\"$message\"/>"; failures=1 ;;
    esac
    cat > "$junit" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="vulnerability-scan" tests="1" failures="$failures" errors="0" skipped="$skipped">
<testcase classname="container.scan" name="grype high or critical in $(printf '%s' "$image" | xml)">$outcome</testcase>
</testsuite></testsuites>
EOF
}

skip() {
    local line="SKIPPED: no vulnerability database reachable ($1)"
    printf '%s\n' "$line" > "$report"
    write_junit SKIPPED "$line"
    echo "$line"
    echo "vulnerability scan of $image SKIPPED: nothing was scanned, this is not a pass" >&2
    if [ "$required" = true ]; then
        echo "BYOC_SCAN_REQUIRED=true: a skipped scan fails the build" >&2
        exit 1
    fi
    exit 0
}

command -v grype >/dev/null 2>&1 || skip "grype is not installed; the buildspec's install phase fetches it where the internet is reachable"
if [ "${BYOC_SCAN_OFFLINE:-false}" = true ]; then
    export GRYPE_DB_AUTO_UPDATE=false  # use the database on disk, fetch nothing
    grype db check >/dev/null 2>&1 || skip "BYOC_SCAN_OFFLINE=true and no grype database on disk"
elif ! db=$(grype db update 2>&1); then
    export GRYPE_DB_AUTO_UPDATE=false
    grype db check >/dev/null 2>&1 ||
        skip "grype db update failed and no database is on disk: $(printf '%s' "$db" | tail -1)"
    echo "grype db update failed; scanning with the database on disk" >&2
fi
grype "docker:$image" --fail-on high -o table > "$report.findings" 2>&1
status=$?
if [ $status -eq 0 ]; then
    { echo "PASSED: no high or critical vulnerabilities in $image"; cat "$report.findings"; } > "$report"
else
    { echo "FAILED: grype exit $status (high or critical vulnerabilities, or a scan error)"; cat "$report.findings"; } > "$report"
fi
rm -f "$report.findings"
first=$(head -1 "$report")
write_junit "${first%%:*}" "$first"
echo "$first"
exit $status
