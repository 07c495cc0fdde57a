#!/usr/bin/env bash
# faceid serve (first slice of issue 13): the HTTP API on loopback, driven by curl.
#   serve_test.sh FACEID_BINARY MODEL_DIR
set -u
faceid=$1 samples=${FID_MODEL_DIR:-$2}/samples
[ -d "$samples" ] || { echo "skip: no sample photos in $samples"; exit 77; }
command -v curl > /dev/null || { echo "skip: no curl"; exit 77; }
tmp=$(mktemp -d); pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
export FID_GALLERY=$tmp/g.db
"$faceid" enroll --force --name alice "$samples/sample1.jpg" > /dev/null 2>&1
passed=0 failed=0
check() { local what=$1; shift; if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi; }
free_port() { /usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
# start ARGS...: serve in the background until it answers /healthz
start() {
  port=$(free_port)
  "$faceid" serve --listen "127.0.0.1:$port" "$@" 2> "$tmp/serve.err" & pids+=($!); srv=$!
  for _ in $(seq 100); do curl -sf "localhost:$port/healthz" > /dev/null && return 0; sleep 0.1; done
  cat "$tmp/serve.err" >&2; return 1
}
spec=$(cd "$(dirname "$0")/.." && pwd)/openapi/faceid-api.json
# req EXPECTED_CODE CURL_ARGS... URL: the body in $tmp/body; the answer must match the OpenAPI spec
req() {
  local want=$1; shift
  local url=${*: -1} method=GET
  for a in "$@"; do case $a in --data-binary|-X) method=POST ;; esac; done
  [ "${*: -2:1}" = DELETE ] && method=DELETE
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$@")
  [ "$code" = "$want" ] || { echo "got $code: $(head -c 200 "$tmp/body")" >&2; return 1; }
  local path=${url#*//}; path=/${path#*/}; path=${path%%\?*}
  local template=$path
  case $path in
    /api/v1/people/*/photos) template='/api/v1/people/{name}/photos' ;;
    /api/v1/people/?*) template='/api/v1/people/{name}' ;;
  esac
  if /usr/bin/python3 -c "import json,sys; sys.exit(0 if sys.argv[2] in json.load(open(sys.argv[1]))['paths'] else 1)" "$spec" "$template"; then
    /usr/bin/python3 "$(dirname "$0")/check_openapi.py" "$spec" "$method" "$template" "$code" "$tmp/body" ||
      { echo "$method $template $code does not match the OpenAPI spec" >&2; return 1; }
  fi
}
json() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$tmp/body')); $1"; }

start --max-upload 3000000
base=localhost:$port
check "healthz" req 200 "$base/healthz"
check "people lists the gallery" req 200 "$base/api/v1/people"
check "... alice with 1 sample" json "assert d['people'] == [{'name': 'alice', 'samples': 1}], d"
check "identify an uploaded photo" req 200 --data-binary @"$samples/sample1.jpg" -H 'Content-Type: image/jpeg' "$base/api/v1/identify"
check "... names alice, the others ?" json "n = [f['name'] for f in d['faces']]; assert n.count('alice') == 1 and set(n) == {'alice', '?'}, n"
check "garbage body: 400 with a one-line error" req 400 --data-binary 'not an image' "$base/api/v1/identify"
check "... saying what is wrong" json "assert 'not a JPEG' in d['error'] and '\n' not in d['error'], d"
head -c 4000000 /dev/zero > "$tmp/big"
check "a body over --max-upload: 413" req 413 --data-binary @"$tmp/big" "$base/api/v1/identify"
check "empty body: 400" req 400 -X POST "$base/api/v1/identify"
check "GET on identify: 405" req 405 "$base/api/v1/identify"
check "unknown path: 404" req 404 "$base/api/v1/nothing"
check "metrics in Prometheus text" req 200 "$base/metrics"
check "... counting the identification" grep -q '^faceid_identify_faces_total{result="known"} 1$' "$tmp/body"
"$faceid" enroll --force --name carol "$samples/sample4.jpg" > /dev/null 2>&1
check "a person enrolled by another process is listed" req 200 "$base/api/v1/people"
check "... at once" json "assert [p['name'] for p in d['people']] == ['alice', 'carol'], d"

# enrollment through the API: the photo gates, the name rule, then identify names the person
check "enroll a photo as dave: 201" req 201 --data-binary @"$samples/sample6.jpg" "$base/api/v1/people/dave/photos?force=1"
check "... one sample" json "assert d['name'] == 'dave' and d['samples'] == 1, d"
check "identify names dave" req 200 --data-binary @"$samples/sample6.jpg" "$base/api/v1/identify"
check "... among the faces" json "assert 'dave' in [f['name'] for f in d['faces']], d"
/usr/bin/python3 -c "import struct,zlib,sys; w,h=64,64; raw=b''.join(b'\0'+b'\x80'*(w*3) for _ in range(h)); c=lambda k,d: struct.pack('>I',len(d))+k+d+struct.pack('>I',zlib.crc32(k+d)); sys.stdout.buffer.write(b'\x89PNG\r\n\x1a\n'+c(b'IHDR',struct.pack('>IIBBBBB',w,h,8,2,0,0,0))+c(b'IDAT',zlib.compress(raw))+c(b'IEND',b''))" > "$tmp/blank.png"
check "a photo without a face: 422 saying so" req 422 --data-binary @"$tmp/blank.png" "$base/api/v1/people/erin/photos"
check "... no face found" json "assert d['error'] == 'no face found', d"
check "a name that is not allowed (..x): 400" req 400 --data-binary @"$samples/sample6.jpg" "$base/api/v1/people/..x/photos"
check "a name with a control character (%0a): 400" req 400 --data-binary @"$samples/sample6.jpg" "$base/api/v1/people/a%0ab/photos"
check "delete dave: 204" req 204 -X DELETE "$base/api/v1/people/dave"
check "delete dave again: 404" req 404 -X DELETE "$base/api/v1/people/dave"
check "unicode names through the URL: 程维" req 201 --data-binary @"$samples/sample6.jpg" "$base/api/v1/people/%E7%A8%8B%E7%BB%B4/photos?force=1"
check "... listed by name" sh -c "curl -s '$base/api/v1/people' | grep -q '程维'"
kill -TERM "$srv"; wait "$srv"; rc=$?
check "SIGTERM: exit 0 ($rc)" test "$rc" = 0

start --token 0123456789abcdef0123
base=localhost:$port
check "token set: no header, 401" req 401 "$base/api/v1/people"
check "token set: a wrong token, 401" req 401 -H 'Authorization: Bearer 0123456789abcdef0124' "$base/api/v1/people"
check "token set: the token, 200" req 200 -H 'Authorization: Bearer 0123456789abcdef0123' "$base/api/v1/people"
check "token set: healthz needs none" req 200 "$base/healthz"
kill "$srv"; wait "$srv" 2>/dev/null

"$faceid" serve --listen 0.0.0.0:$(free_port) > /dev/null 2> "$tmp/err"; rc=$?
check "beyond loopback without a token: refused in one line ($(cat "$tmp/err"))" test "$rc" = 2 -a "$(wc -l < "$tmp/err")" = 1
"$faceid" serve --listen nowhere > /dev/null 2> "$tmp/err"; rc=$?
check "a bad --listen: one line, exit 2" test "$rc" = 2 -a "$(wc -l < "$tmp/err")" = 1
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
