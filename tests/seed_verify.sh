#!/usr/bin/env bash
# With the original demo's clips (../shared/data/seed-videos/<name>/, or $FID_SEED_DIR): two
# frames of one person's clip verify as the same person, frames of the two people as different.
# Exits 77 (ctest: skipped) when the clips are absent.
#   seed_verify.sh FACEID_BINARY SEED_DIR
set -u
faceid=$1
seeds=${FID_SEED_DIR:-$2}
if [ ! -d "$seeds" ] || [ -z "$(ls "$seeds" 2>/dev/null)" ]; then
  echo "seed clips not found in $seeds: skipped"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
people=()
for dir in "$seeds"/*/; do
  name=$(basename "$dir")
  clip=$(ls "$dir" | head -1)
  # first and last third of the clip
  dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$dir/$clip")
  for k in 1 2; do
    t=$(/usr/bin/python3 -c "print(round($dur * ($k * 2 - 1) / 6, 2))")
    ffmpeg -v error -y -ss "$t" -i "$dir/$clip" -frames:v 1 "$tmp/$name-$k.png" || { echo "FAIL: cannot extract a frame of $clip"; exit 1; }
  done
  people+=("$name")
done
expect() { # expect EXIT A B
  "$faceid" verify "$2" "$3" > "$tmp/out" 2>&1
  local rc=$?
  if [ $rc = "$1" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: verify $(basename "$2") $(basename "$3"): exit $rc, expected $1: $(tail -1 "$tmp/out")"; fi
  echo "$(basename "$2") vs $(basename "$3"): $(tail -1 "$tmp/out")"
}
for p in "${people[@]}"; do expect 0 "$tmp/$p-1.png" "$tmp/$p-2.png"; done
for ((i = 0; i < ${#people[@]}; i++)); do
  for ((j = i + 1; j < ${#people[@]}; j++)); do
    expect 1 "$tmp/${people[i]}-1.png" "$tmp/${people[j]}-2.png"
    expect 1 "$tmp/${people[i]}-2.png" "$tmp/${people[j]}-1.png"
  done
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
