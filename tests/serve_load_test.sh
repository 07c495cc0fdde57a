#!/usr/bin/env bash
# A bounded load run of faceid serve (bench/serve_load.py, 12 s): identify requests from two
# clients while two cameras play; every request must succeed, the cameras keep running, RSS levels
# off. `make bench` runs it longer and reports the numbers.
#   [SERVE_LOAD_SECONDS=12] serve_load_test.sh FACEID_BINARY MODEL_DIR
set -eu
faceid=$1 samples=${FID_MODEL_DIR:-$2}/samples seconds=${SERVE_LOAD_SECONDS:-12}
[ -d "$samples" ] || { echo "skip: no sample photos in $samples"; exit 77; }
command -v ffmpeg > /dev/null || { echo "skip: no ffmpeg"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$faceid; . "$(dirname "$0")/../scripts/lib/clips.sh"
make_clip sample1.jpg 1 "$tmp/a.mp4" 4 1.2 && fit_clip "$tmp/a.mp4" "$tmp/cam.mp4"
ffmpeg -v error -y -ss 2 -i "$tmp/cam.mp4" -frames:v 1 "$tmp/frame.jpg"
FID_GALLERY=$tmp/g.db "$faceid" enroll --force --name alice "$samples/sample1.jpg" > /dev/null
/usr/bin/python3 "$(dirname "$0")/../bench/serve_load.py" "$faceid" "$tmp/g.db" "$tmp/cam.mp4" "$tmp/frame.jpg" --seconds "$seconds"
