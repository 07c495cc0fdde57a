#!/usr/bin/env bash
# One photo per person: face-filling crops enroll (bbt, ../shared/data), the other photos of the
# same people are named, strangers are not; photo gates say which gate and by how much; --force.
# usage: photos_test.sh FACEID MODEL_DIR SHARED_DATA    (exit 77 = skipped without ../shared)
set -u
faceid=$1 models=$2 bbt=$3/bbt
samples=$models/samples
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export FID_GALLERY=$tmp/g.db
passed=0 failed=0
check() { local what=$1; shift; if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi; }
py() { /usr/bin/python3 -c "$@"; }

# Photo gates, with the sample photos (always there): a face 30 px tall is refused by the face-size
# gate with its numbers, and kept with --force.
py "
import cv2
im = cv2.imread('$samples/sample5.jpg')
cv2.imwrite('$tmp/tiny.png', cv2.resize(im, None, fx=0.12, fy=0.12, interpolation=cv2.INTER_AREA))"
"$faceid" enroll --name small "$tmp/tiny.png" 2> "$tmp/err"; rc=$?
check "small face refused by the face-size gate, with value and limit" \
  grep -qE "face too small \(face size [0-9.]+, needs 40\); --force keeps it" "$tmp/err"
check "refused photo: exit 1, nothing enrolled" test $rc = 1 -a -z "$("$faceid" list 2>/dev/null | grep '^small')"
"$faceid" enroll --name small --force "$tmp/tiny.png" 2> "$tmp/err"; rc=$?
check "--force keeps it and says which gate it overrode" test $rc = 0 -a -n "$(grep 'kept by --force, which overrode the face size gate' "$tmp/err")"
"$faceid" remove small > /dev/null

if [ ! -d "$bbt/amy" ]; then
  echo "$passed passed, $failed failed"
  echo "skipped the bbt part: $bbt absent"
  [ $failed = 0 ] && exit 77 || exit 1
fi
for dir in "$bbt"/*/; do
  name=$(basename "$dir")
  mkdir -p "$tmp/people/$name"
  cp "$dir/${name}1.png" "$tmp/people/$name/"
done
"$faceid" enroll-dir "$tmp/people" --json > "$tmp/enroll.json" 2> "$tmp/err"
check "every face-filling crop enrolls (one photo per person)" py "
import json; d = json.load(open('$tmp/enroll.json'))
assert len(d['people']) == 8 and all(p['enrolled'] and p['samples'] == 1 for p in d['people']), d"
# Naming the other photos: one grey photo of similar-looking people each. With landmarks refined
# on their own frame (no longer from the detector's box) and the 0.55 threshold: 29 of 32 right,
# none wrong (with face-api's alignment at 0.5: 14 right, 5 wrong). Issue 24's bar: 28, none wrong.
"$faceid" identify --json "$bbt"/*/*[2-5].png > "$tmp/id.json"
check "the other photos of the same people: >= 28 of 32 named right, none wrong" py "
import json, os; d = json.load(open('$tmp/id.json'))
right = wrong = 0
for f in d['files']:
    want = os.path.basename(os.path.dirname(f['file']))
    assert len(f['faces']) == 1, (f['file'], 'parts of the face reported as faces')
    name = f['faces'][0]['name']
    right += name == want
    wrong += name not in ('?', want)
print('one photo per person: %d of %d named right, %d wrong' % (right, len(d['files']), wrong))
assert right >= 28 and wrong == 0, (right, wrong)"
"$faceid" identify --json --explain "$bbt"/amy/amy2.png "$samples"/sample1.jpg > "$tmp/explain.json"
check "--explain says what decided: distance against the threshold, runner-up, margin, face size" py "
import json; d = json.load(open('$tmp/explain.json'))
amy, stranger = d['files'][0]['faces'][0], d['files'][1]['faces'][0]
for f in (amy, stranger):
    assert abs(f['threshold'] - 0.55) < 1e-4 and f['second'] and f['face_px'] > 40 and f['margin'] > 0, f
assert amy['name'] == 'amy' and amy['distance'] < amy['threshold'], amy
assert stranger['name'] == '?' and stranger['distance'] >= stranger['threshold'] and stranger['closest'], stranger"
"$faceid" identify --json "$samples"/*.jpg > "$tmp/strangers.json"
check "strangers in the sample photos: none named" py "
import json; d = json.load(open('$tmp/strangers.json'))
faces = [x for f in d['files'] for x in f['faces']]
named = [(x['name'], x['distance']) for x in faces if x['name'] != '?']
print('strangers: %d faces, named: %s' % (len(faces), named))
assert len(faces) >= 20 and not named, named"
echo "$passed passed, $failed failed"
[ $failed = 0 ]
