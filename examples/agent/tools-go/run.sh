#!/bin/sh
# Builds the Go tool worker (cached after the first time) and replaces this shell with it, so
# Keel supervises (and a test can kill -9) the worker itself. Build output goes to stderr:
# over stdio, stdout is the wire.
set -e
here=$(cd "$(dirname "$0")" && pwd)
: "${KEEL_EXAMPLE_LOG:=$here/../.state/side-effects.jsonl}"
export KEEL_EXAMPLE_LOG
mkdir -p "$here/build" "$(dirname "$KEEL_EXAMPLE_LOG")"
(cd "$here" && go build -o build/tools-go .) >&2
exec "$here/build/tools-go"
