#!/usr/bin/env bash
# A Keel worker in bash + jq, written from docs/protocol.md alone: it serves `text.upper` over the
# stdio transport (`keel serve --worker "bash examples/bash-worker/worker.sh"`). Over stdio,
# stdout is the wire, so everything else goes to stderr. One message per line, compact JSON (jq -c).
set -uo pipefail
export LC_ALL=C  # ${#line} counts bytes, for the frame limit

MAX_MESSAGE_BYTES=16777216  # "A line longer than the frame limit (default 16 MiB) ... -32002"

log() { printf 'bash-worker: %s\n' "$*" >&2; }
send() { printf '%s\n' "$1"; }
command -v jq >/dev/null || { log "needs jq (apt-get install -y jq)"; exit 1; }

# Every incoming line goes through this jq program, which prints "ACTION<TAB>JSON":
# reply (send JSON), init-ok, fatal, registered, shutdown (send JSON, then exit), or none.
read -r -d '' DISPATCH <<'JQ'
def err($id; $code; $msg): {jsonrpc: "2.0", id: $id, error: {code: $code, message: $msg}};
def ok($id; $result): {jsonrpc: "2.0", id: $id, result: $result};
def valid_id: type == "string" or type == "number";
def upper:
  if (.input | type) == "object" and (.input.text | type) == "string"
  then {output: {text: (.input.text | ascii_upcase)}}
  else {failure: {type: "BadInput", message: "input.text must be a string", retryable: false, details: null}}
  end;
# Answer one request/notification; null when nothing is to be sent.
def handle:
  if type != "object" or .jsonrpc != "2.0" then err(null; -32600; "Invalid Request")
  elif has("method") | not then null                      # a response: ignored here
  elif (.method | type) != "string" then err(if (.id | valid_id) then .id else null end; -32600; "Invalid Request")
  elif has("id") | not then null                          # notifications (activity/cancel): nothing to stop
  elif .method == "activity/execute" then
    if .params.name == "text.upper" then ok(.id; .params | upper)
    else ok(.id; {failure: {type: "ActivityNotRegistered", message: "not served here", retryable: true, details: null}})
    end
  elif .method == "ping" or .method == "shutdown" then ok(.id; {})
  else err(.id; -32601; "Method not found: \(.method)")
  end;
if type == "object" and (has("method") | not) and .id == 1 then
  (if has("result") and .result.protocolVersion == "1" then "init-ok\t{}" else "fatal\t\(.)" end)
elif type == "object" and (has("method") | not) and .id == 2 then
  (if has("result") then "registered\t\(.result)" else "fatal\t\(.)" end)
elif type == "array" then
  (if length == 0 then "reply\t\(err(null; -32600; "Invalid Request: empty batch"))"
   else [.[] | handle | select(. != null)] | if length == 0 then "none\t{}" else "reply\t\(.)" end end)
elif type == "object" and .method == "shutdown" and has("id") then "shutdown\t\(handle)"
else (handle | if . == null then "none\t{}" else "reply\t\(.)" end)
end
JQ

REGISTER='{"jsonrpc":"2.0","id":2,"method":"worker/register","params":{"name":"bash-worker","language":"bash","maxConcurrent":1,"activities":[{"name":"text.upper","description":"Upper-cases ASCII letters of input.text.","input":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]},"output":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}}],"workflows":[]}}'

send '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1","clientInfo":{"name":"keel-bash","version":"0.1.0"}}}'

while IFS= read -r line || [[ -n $line ]]; do
  line=${line%$'\r'}
  [[ -z $line ]] && continue
  if (( ${#line} > MAX_MESSAGE_BYTES )); then
    send '{"jsonrpc":"2.0","id":null,"error":{"code":-32002,"message":"message too large"}}'
    continue
  fi
  if ! out=$(jq -c -r "$DISPATCH" <<<"$line" 2>/dev/null) || [[ -z $out ]]; then
    send '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}'
    continue
  fi
  action=${out%%$'\t'*}
  payload=${out#*$'\t'}
  case $action in
    reply) send "$payload" ;;
    init-ok) send "$REGISTER" ;;
    registered) log "registered: $payload" ;;
    shutdown) send "$payload"; log "shutdown"; exit 0 ;;
    fatal) log "Keel refused us: $payload"; exit 1 ;;
    none) ;;
  esac
done
log "stdin closed"
