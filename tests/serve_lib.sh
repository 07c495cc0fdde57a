# What the tests of faceid serve share (source it after setting faceid, tmp and pids):
#   check WHAT COMMAND...       counts a check, says FAIL with WHAT when the command fails
#   free_port                   a loopback port nobody listens on
#   start [SERVE ARGS...]       faceid serve on a free port ($port, $srv), appending its stderr to
#                               $tmp/serve.err, waiting until /healthz answers ($SERVE_ARGS: more
#                               options for every serve, e.g. --threads 1 for ThreadSanitizer)
#   req CODE [CURL ARGS...] URL the answer's body in $tmp/body; its status must be CODE, and an
#                               /api answer must match openapi/faceid-api.json
#   json PYTHON                 runs PYTHON with d = the JSON in $tmp/body
#   poll SECONDS PYTHON URL     until the JSON at URL makes PYTHON (d = it) true
# $SETUP: the faceid that enrolls and makes the test clips (a ThreadSanitizer build is too slow for
# that part; its serve is what is under test)
passed=0 failed=0
check() { local what=$1; shift; if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi; }
free_port() { /usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
start() {
  port=$(free_port)
  "$faceid" serve --listen "127.0.0.1:$port" "$@" ${SERVE_ARGS:-} 2>> "$tmp/serve.err" & pids+=($!); srv=$!
  for _ in $(seq 300); do curl -sf "localhost:$port/healthz" > /dev/null && return 0; sleep 0.1; done
  cat "$tmp/serve.err" >&2; return 1
}
spec=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/openapi/faceid-api.json
req() {
  local want=$1; shift
  local url=${*: -1} method=GET prev=
  for a in "$@"; do
    case $a in --data-binary|-F|-d) [ "$method" = GET ] && method=POST ;; esac
    [ "$prev" = -X ] && method=$a
    prev=$a
  done
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$@")
  [ "$code" = "$want" ] || { echo "got $code: $(head -c 300 "$tmp/body")" >&2; return 1; }
  local path=${url#*//}; path=/${path#*/}; path=${path%%\?*}
  case $path in /api/*|/healthz|/metrics) ;; *) return 0 ;; esac
  case $path in *.jpg) [ "$code" = 200 ] && return 0 ;; esac
  /usr/bin/python3 -W ignore "$(dirname "${BASH_SOURCE[0]}")/check_openapi.py" "$spec" "$method" "$path" "$code" "$tmp/body" ||
    { echo "$method $path $code does not match the OpenAPI spec" >&2; return 1; }
}
json() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$tmp/body')); $1"; }
poll() {
  local until=$(( $(date +%s) + $1 ))
  while [ "$(date +%s)" -le "$until" ]; do
    curl -s "$3" > "$tmp/body" && json "sys.exit(0 if ($2) else 1)" 2>/dev/null && return 0
    sleep 0.3
  done
  echo "timed out waiting for $2 at $3: $(head -c 300 "$tmp/body")" >&2; return 1
}
