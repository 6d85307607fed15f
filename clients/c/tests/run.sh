#!/bin/sh
# `make test`: the unit/channel/live tests, then the conformance transcripts against
# build/conformance_worker (with conformance-baseline.yml), then the C-specific transcripts in
# tests/transcripts/ (same format and runner). Prints each summary, then the
# total as exactly "N passed, M failed" on the final line; exits non-zero on any failure.
cd "$(dirname "$0")/.." || exit 2
out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT

build/test_keel 2>&1 | tee "$out"
unit_status=$(tail -n 1 "$out")
python3 ../conformance/run.py --cmd build/conformance_worker --baseline conformance-baseline.yml 2>&1 | tee "$out"
conformance_status=$(tail -n 1 "$out")
python3 ../conformance/run.py --cmd build/conformance_worker --cases tests/transcripts --no-baseline 2>&1 | tee "$out"
transcripts_status=$(tail -n 1 "$out")

total() { # sums "N passed, M failed" lines: $1 = field (1 passed, 3 failed)
    printf '%s\n%s\n%s\n' "$unit_status" "$conformance_status" "$transcripts_status" | awk -v f="$1" '/^[0-9]+ passed, [0-9]+ failed$/ {s += $f} END {print s + 0}'
}
passed=$(total 1)
failed=$(total 3)
for line in "$unit_status" "$conformance_status" "$transcripts_status"; do
    echo "$line" | grep -Eq '^[0-9]+ passed, [0-9]+ failed$' || failed=$((failed + 1)) # a runner crashed
done
echo "unit: $unit_status; conformance: $conformance_status; C transcripts: $transcripts_status"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
