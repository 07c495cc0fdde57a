#!/usr/bin/env bash
# faceid live on the original demo's clips: both people enrolled from the first halves; a clip of
# the second halves back to back is followed: every track named right, no label flicker
# (no "changed" events), an annotated video with every frame, events as JSON Lines.
# Skips (77) without the clips.   live_test.sh FACEID_BINARY SEED_DIR
set -u
faceid=$1
seeds=${FID_SEED_DIR:-$2}
[ -d "$seeds" ] && [ -n "$(ls "$seeds" 2>/dev/null)" ] || { echo "seed clips not found: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export FID_GALLERY=$tmp/g.db
passed=0 failed=0
check() { local what=$1; shift; if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi; }
inputs=() filters="" i=0
for dir in "$seeds"/*/; do
  name=$(basename "$dir"); clip="$dir/$(ls "$dir" | head -1)"
  dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$clip")
  half=$(/usr/bin/python3 -c "print(round($dur / 2, 2))")
  ffmpeg -v error -y -i "$clip" -t "$half" -an -c:v libx264 -pix_fmt yuv420p "$tmp/$name-a.mp4"
  ffmpeg -v error -y -ss "$half" -i "$clip" -an -vf fps=25,scale=640:360,setsar=1 -c:v libx264 -pix_fmt yuv420p "$tmp/$name-b.mp4"
  "$faceid" enroll --name "$name" "$tmp/$name-a.mp4" > /dev/null
  echo "file '$tmp/$name-b.mp4'" >> "$tmp/list.txt"
done
timeout 60 ffmpeg -v error -y -f concat -safe 0 -i "$tmp/list.txt" -c copy "$tmp/both.mp4"
check "test clip made" test -s "$tmp/both.mp4"
timeout 120 "$faceid" live --source "$tmp/both.mp4" --output "$tmp/out.mp4" --events "$tmp/ev.jsonl" 2> "$tmp/summary"
check "live exits 0" test $? = 0
check "summary printed" grep -q "frames in" "$tmp/summary"
check "every track named right, none changed" /usr/bin/python3 -c "
import json
ev = [json.loads(l) for l in open('$tmp/ev.jsonl')]
ident = [e for e in ev if e['event'] == 'identified']
assert ident and not [e for e in ev if e['event'] == 'changed'], ev
names = [e['name'] for e in ident]
assert names[0] != '?' and names[-1] != '?' and names[0] != names[-1], names
"
n_in=$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$tmp/both.mp4")
n_out=$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$tmp/out.mp4")
check "annotated video has every frame ($n_out of $n_in)" test "$n_in" = "$n_out"
"$faceid" live --source "$tmp/missing.mp4" 2> "$tmp/err"; rc=$?
check "missing source: exit 2, one line" test $rc = 2 -a "$(wc -l < "$tmp/err")" = 1
head -c 5000 /dev/urandom > "$tmp/garbage.mp4"
"$faceid" live --source "$tmp/garbage.mp4" 2> "$tmp/err"; rc=$?
check "garbage source: exit 2, one line" test $rc = 2 -a "$(wc -l < "$tmp/err")" = 1
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
