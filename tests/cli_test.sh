#!/usr/bin/env bash
# The faceid command line on the face-api sample photos: output formats, exit codes, errors.
#   cli_test.sh FACEID_BINARY MODEL_DIR
set -u
faceid=$1
samples=$2/samples
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi
}
py() { /usr/bin/python3 -c "$@"; }

"$faceid" detect --json "$samples/sample1.jpg" "$samples/sample5.jpg" > "$tmp/d.json"
check "detect --json exits 0" test $? = 0
check "detect --json: 3 + 5 faces with boxes and scores" py "
import json; d = json.load(open('$tmp/d.json'))
n = [len(i['faces']) for i in d['images']]
assert n == [3, 5], n
for i in d['images']:
    for f in i['faces']: assert len(f['box']) == 4 and 0.5 < f['score'] <= 1
assert d['images'][0]['width'] == 1920"
"$faceid" detect --detector tiny "$samples/sample6.jpg" > "$tmp/t.txt"
check "detect --detector tiny: one line per face" test "$(grep -c 'face ' "$tmp/t.txt")" -ge 4
"$faceid" detect "$samples/sample2.jpg" --annotate "$tmp/ann.png" > /dev/null
check "--annotate writes an image" test -s "$tmp/ann.png"
check "annotated image decodes" "$faceid" detect "$tmp/ann.png" --score 0.99 > /dev/null

"$faceid" embed --json --all "$samples/sample3.jpg" > "$tmp/e.json"
check "embed --all --json: 3 faces, 128-d, 68 landmarks" py "
import json; d = json.load(open('$tmp/e.json'))
assert d['dim'] == 128 and len(d['faces']) == 3
for f in d['faces']: assert len(f['descriptor']) == 128 and len(f['landmarks']) == 68"
"$faceid" verify "$samples/sample4.jpg" "$samples/sample4.jpg" > /dev/null
check "verify: same image -> exit 0" test $? = 0
"$faceid" verify "$samples/sample1.jpg" "$samples/sample6.jpg" --json > "$tmp/v.json"
check "verify: different people -> exit 1" test $? = 1
check "verify --json: distance over the threshold" py "
import json; d = json.load(open('$tmp/v.json')); assert d['same'] is False and d['distance'] > d['threshold'] == 0.6"

# Errors: one line on stderr naming the file, exit 2.
"$faceid" verify "$samples/sample1.jpg" /no/such.jpg > /dev/null 2> "$tmp/err"
check "verify with a missing file -> exit 2" test $? = 2
check "one-line error naming the file" test "$(grep -c /no/such.jpg "$tmp/err")" = 1
head -c 100 /dev/urandom > "$tmp/noise.jpg"
"$faceid" detect "$tmp/noise.jpg" > /dev/null 2> "$tmp/err"
check "garbage image -> exit 2, one line" test $? = 2 -a "$(wc -l < "$tmp/err")" = 1
/usr/bin/python3 -c "
import struct, zlib
w, h = 64, 48
raw = b''.join(b'\x00' + bytes([200, 180, 160]) * w for _ in range(h))
chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
open('$tmp/blank.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))"
"$faceid" verify "$tmp/blank.png" "$samples/sample1.jpg" > /dev/null 2> "$tmp/err"
check "image without a face -> exit 2 with 'no face'" test $? = 2 -a -n "$(grep 'no face' "$tmp/err")"
"$faceid" detect --bogus x > /dev/null 2>&1
check "unknown option -> exit 2" test $? = 2
for cmd in detect embed verify; do
  "$faceid" $cmd --help > "$tmp/help"
  check "$cmd --help shows usage and examples" grep -q "examples:" "$tmp/help"
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
