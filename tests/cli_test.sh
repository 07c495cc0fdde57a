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

# face-api's SSD over the whole frame, as face-api runs it
"$faceid" detect --json --detector ssd --tile-face 0 "$samples/sample1.jpg" "$samples/sample5.jpg" > "$tmp/d.json"
check "detect --json exits 0" test $? = 0
check "detect --json: 3 + 5 faces with boxes and scores" py "
import json; d = json.load(open('$tmp/d.json'))
n = [len(i['faces']) for i in d['files']]
assert n == [3, 5], n
for i in d['files']:
    for f in i['faces']: assert len(f['box']) == 4 and 0.5 < f['score'] <= 1
assert d['files'][0]['width'] == 1920"
"$faceid" detect --detector tiny "$samples/sample6.jpg" > "$tmp/t.txt"
check "detect --detector tiny: one line per face" test "$(grep -c 'face ' "$tmp/t.txt")" -ge 4
"$faceid" detect "$samples/sample2.jpg" --annotate "$tmp/ann.png" > /dev/null
check "--annotate writes an image" test -s "$tmp/ann.png"
check "annotated image decodes" "$faceid" detect "$tmp/ann.png" --score 0.99 > /dev/null

# the default (BlazeFace, tiles for small faces) finds every face SSD finds
"$faceid" detect --json "$samples/sample1.jpg" "$samples/sample5.jpg" > "$tmp/dd.json"
check "default detector finds SSD's faces" py "
import json
def iou(a, b):
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]); h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return 0 if w <= 0 or h <= 0 else w * h / (a[2] * a[3] + b[2] * b[3] - w * h)
ssd, dflt = json.load(open('$tmp/d.json')), json.load(open('$tmp/dd.json'))
for s, d in zip(ssd['files'], dflt['files']):
    for f in s['faces']:
        assert max(iou(f['box'], g['box']) for g in d['faces']) > 0.4, (s['file'], f)
    assert len(d['faces']) <= len(s['faces']) + 2, (d['file'], len(d['faces']))
    assert all(len(f['keypoints']) == 6 for f in d['faces'])"
"$faceid" embed --json --all --detector ssd --tile-face 0 "$samples/sample3.jpg" > "$tmp/e.json"
check "embed --all --json: 3 faces, 128-d, 68 landmarks" py "
import json; d = json.load(open('$tmp/e.json'))['files'][0]
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
for cmd in detect embed verify enroll enroll-dir identify calibrate list live; do
  "$faceid" $cmd --help > "$tmp/help"
  check "$cmd --help shows usage and examples" grep -q "examples:" "$tmp/help"
  check "$cmd --help states the contract" grep -q "exit 0 success, 1 a negative answer, 2 usage" "$tmp/help"
done

# --- one contract for every command (README "Command-line contract") -------------------------
schema=$(dirname "$0")/../schema/faceid-output.schema.json
one_error() { # one_error EXPECTED_EXIT PATTERN COMMAND...: that exit, one stderr line matching PATTERN
  local want=$1 pattern=$2; shift 2
  "$@" > "$tmp/out" 2> "$tmp/err"; local rc=$?
  [ $rc = "$want" ] && [ "$(wc -l < "$tmp/err")" = 1 ] && grep -q -- "$pattern" "$tmp/err" || { echo "rc $rc: $(cat "$tmp/err")" >&2; return 1; }
}
export FID_GALLERY=$tmp/contract.db
check "garbage number: exit 2 naming the option" one_error 2 "--threshold" "$faceid" identify --threshold abc "$samples/sample1.jpg"
check "NaN: exit 2" one_error 2 "--threshold" "$faceid" verify --threshold nan "$samples/sample1.jpg" "$samples/sample2.jpg"
check "out of range: exit 2" one_error 2 "--step" "$faceid" identify --step 0 "$samples/sample1.jpg"
check "trailing garbage: exit 2" one_error 2 "--threads" "$faceid" detect --threads 2x "$samples/sample1.jpg"
check "missing value: exit 2" one_error 2 "needs a value" "$faceid" detect "$samples/sample1.jpg" --score
check "unknown option: exit 2" one_error 2 "unknown option '--bogus'" "$faceid" identify --bogus "$samples/sample1.jpg"
check "live: garbage --camera-fps" one_error 2 "--camera-fps" "$faceid" live --source x.mp4 --camera-fps fast
"$faceid" enroll --force --gallery="$tmp/eq.db" --name=alice "$samples/sample2.jpg" > /dev/null 2>&1
check "--opt=VAL works (enroll --gallery=... --name=...)" test "$("$faceid" list --gallery="$tmp/eq.db")" = "alice	1 samples"
check "show of an unknown name: exit 1" one_error 1 "no person named 'bob'" "$faceid" show bob --gallery "$tmp/eq.db"
check "remove of an unknown name: exit 1" one_error 1 "bob" "$faceid" remove bob --gallery "$tmp/eq.db"
"$faceid" enroll --force --gallery "$tmp/eq.db" --name carol "$samples/sample4.jpg" > /dev/null 2>&1
check "rename onto an existing name: exit 2 (an error, not a no)" one_error 2 "already a person named 'alice'" "$faceid" rename carol alice --gallery "$tmp/eq.db"
"$faceid" identify --gallery "$tmp/eq.db" "$tmp/blank.png" > "$tmp/noface" 2>&1
check "identify reports an image without a face (and exits 1: nobody found)" test $? = 1 -a "$(grep -c 'no face' "$tmp/noface")" = 1
"$faceid" identify --gallery "$tmp/eq.db" --json "$samples/sample1.jpg" > "$tmp/strangers.json"
check "identify with nobody known: exit 1" test $? = 1
check "a stranger's record names nobody" py "
import json; d = json.load(open('$tmp/strangers.json'))
faces = [f for x in d['files'] for f in x['faces']]
assert faces and all(f['name'] == '?' and 'closest' not in f and 'distance' not in f for f in faces), faces"
"$faceid" identify --gallery "$tmp/eq.db" --json --explain "$samples/sample1.jpg" > "$tmp/explain.json"
check "--explain adds the closest person" py "
import json; d = json.load(open('$tmp/explain.json'))
assert all(f['closest'] in ('alice', 'carol') and f['distance'] > 0 for x in d['files'] for f in x['faces'])"
"$faceid" identify --gallery "$tmp/eq.db" --json "$samples/sample2.jpg" > "$tmp/known.json"
check "identify with someone known: exit 0" test $? = 0
"$faceid" list --gallery "$tmp/eq.db" --json > "$tmp/list.json"
"$faceid" detect --json "$samples/sample1.jpg" > "$tmp/det.json"
"$faceid" embed --json "$samples/sample2.jpg" > "$tmp/emb.json"
"$faceid" verify --json "$samples/sample1.jpg" "$samples/sample6.jpg" > "$tmp/ver.json"
check "every document validates against the schema" /usr/bin/python3 "$(dirname "$0")/check_schema.py" "$schema" \
  "$tmp/strangers.json" "$tmp/known.json" "$tmp/list.json" "$tmp/det.json" "$tmp/emb.json" "$tmp/ver.json" "$tmp/d.json" "$tmp/e.json"
check "boxes are whole pixels everywhere" py "
import json
for p in ['$tmp/det.json', '$tmp/known.json', '$tmp/ver.json']:
    s = json.dumps(json.load(open(p)))
    assert all(isinstance(v, int) for f in json.load(open(p))['files'] for face in f.get('faces', [f]) for v in face['box']), p"
"$faceid" export "$tmp/ex.json" --gallery "$tmp/eq.db" && "$faceid" import "$tmp/ex.json" --gallery "$tmp/eq.db" > /dev/null
check "importing an export into its own gallery adds nothing" test "$("$faceid" list --gallery "$tmp/eq.db" | tr '\n' ' ')" = "alice	1 samples carol	1 samples "
check "import --on-conflict refuse: exit 2 naming the person" one_error 2 "alice" "$faceid" import "$tmp/ex.json" --gallery "$tmp/eq.db" --on-conflict refuse

# long work says how far it is on a terminal (script(1) gives it one), and nothing elsewhere
mkdir -p "$tmp/people/alice" "$tmp/people/carol" "$tmp/people/broken" "$tmp/people/nobody"
cp "$samples/sample1.jpg" "$tmp/people/alice/"; cp "$samples/sample4.jpg" "$tmp/people/carol/"
head -c 3000 /dev/urandom > "$tmp/people/broken/photo.jpg"
"$faceid" enroll-dir "$tmp/people" --force --gallery "$tmp/dir.db" > "$tmp/dir.out" 2> "$tmp/dir.err"; rc=$?
check "enroll-dir: everyone it can, the rest listed, exit 1 ($rc)" test "$rc" = 1 -a \
  "$("$faceid" list --gallery "$tmp/dir.db" | cut -f1 | tr '\n' ' ')" = "alice carol " -a \
  "$(grep -c 'enrolled 2 of 4 people; not enrolled: broken, nobody' "$tmp/dir.err")" = 1
check "... no progress line when stderr is not a terminal" test "$(grep -c 'person 1 of' "$tmp/dir.err")" = 0
rm -rf "$tmp/people/broken" "$tmp/people/nobody"
"$faceid" enroll-dir "$tmp/people" --force --gallery "$tmp/dir2.db" > /dev/null 2>&1; rc=$?
check "enroll-dir: everyone enrolled, exit 0 ($rc)" test "$rc" = 0
if command -v script > /dev/null && command -v ffmpeg > /dev/null; then
  script -qec "'$faceid' enroll-dir '$tmp/people' --force --gallery '$tmp/dir3.db'" /dev/null > "$tmp/tty.out" 2>&1
  check "enroll-dir on a terminal: person k of N" sh -c "grep -q 'person 1 of 2: alice' '$tmp/tty.out' && grep -q 'person 2 of 2: carol' '$tmp/tty.out'"
  script -qec "'$faceid' enroll-dir '$tmp/people' --force --quiet --gallery '$tmp/dir4.db'" /dev/null > "$tmp/tty.out" 2>&1
  check "... and none with --quiet" test "$(grep -c 'person 1 of' "$tmp/tty.out")" = 0
  ffmpeg -v error -y -loop 1 -i "$samples/sample1.jpg" -vf "scale=640:-2" -t 8 -r 25 -c:v libx264 -pix_fmt yuv420p "$tmp/clip.mp4"
  script -qec "'$faceid' live --source '$tmp/clip.mp4' --no-window --gallery '$tmp/dir2.db'" /dev/null > "$tmp/tty.out" 2>&1
  check "live on a file, on a terminal: seconds done of the total, frames/s, ETA, who was named" \
    grep -qE 'clip: [0-9.]+ of 8.0 s \([0-9]+%\), [0-9.]+ frames/s(, ETA [0-9]+ s)?, named: alice' "$tmp/tty.out"
  script -qec "'$faceid' live --source '$tmp/clip.mp4' --no-window --quiet --gallery '$tmp/dir2.db'" /dev/null > "$tmp/tty.out" 2>&1
  check "... none with --quiet" test "$(grep -c ' of 8.0 s' "$tmp/tty.out")" = 0
  "$faceid" live --source "$tmp/clip.mp4" --no-window --gallery "$tmp/dir2.db" > /dev/null 2> "$tmp/live.err"
  check "... none when stderr is not a terminal" test "$(grep -c ' of 8.0 s' "$tmp/live.err")" = 0
else
  echo "skip: no script(1) or ffmpeg: the progress checks"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
