#!/usr/bin/env bash
# faceid serve's web page in headless browsers (tests/web_test.js): Debian's Chromium, and Firefox
# ESR when installed, each against a fresh server whose camera plays a clip of a stranger; then the
# screenshots are checked: the right size, and the live view in them is a picture with the
# stranger's name drawn after the enrollment (not a blank or broken page).
#   web_test.sh FACEID_BINARY MODEL_DIR BROWSER_NODE_MODULES
set -u
faceid=$1 samples=${FID_MODEL_DIR:-$2}/samples modules=$3
[ -d "$samples" ] || { echo "skip: no sample photos in $samples"; exit 77; }
[ -x /usr/bin/chromium ] || { echo "skip: Debian's chromium is not installed (scripts/setup installs it)"; exit 77; }
[ -d "$modules/puppeteer-core" ] || { echo "skip: puppeteer-core is not in $modules (scripts/setup installs it)"; exit 77; }
command -v node > /dev/null && command -v ffmpeg > /dev/null || { echo "skip: needs node and ffmpeg"; exit 77; }
tmp=$(mktemp -d); pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] && cp "$tmp"/*.png "$KEEP"/; rm -rf "$tmp"' EXIT
bin=$faceid; . "$(dirname "$0")/../scripts/lib/clips.sh"
make_clip sample5.jpg 1 "$tmp/b.mp4" 4 && fit_clip "$tmp/b.mp4" "$tmp/cam.mp4"
# the photo to enroll: a frame of that clip (one face, the stranger's)
ffmpeg -v error -y -ss 1 -i "$tmp/cam.mp4" -frames:v 1 "$tmp/dana.jpg"
token=web-test-token-0123456789

run() {  # run chrome|firefox
  local which=$1 port rc
  export FID_GALLERY=$tmp/$which.db
  port=$(/usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
  "$faceid" serve --listen "127.0.0.1:$port" --token "$token" --source "door=$tmp/cam.mp4" 2> "$tmp/serve-$which.err" & pids+=($!)
  for _ in $(seq 100); do curl -sf "localhost:$port/healthz" > /dev/null && break; sleep 0.1; done
  mkdir -p "$tmp/$which"
  NODE_PATH=$modules timeout 180 node "$(dirname "$0")/web_test.js" "http://localhost:$port/" "$token" "$tmp/dana.jpg" "$tmp/$which" "$which"
  rc=$?
  [ $rc = 0 ] || { cat "$tmp/serve-$which.err" >&2; return 1; }
  /usr/bin/python3 - "$tmp/$which" <<'PY' || return 1
import sys
import cv2
tmp = sys.argv[1]
for name in ("live", "named", "review"):
    im = cv2.imread(f"{tmp}/{name}.png")
    # a full-page screenshot (review) may lose a scroll bar's width
    assert im is not None and (im.shape[:2] == (1000, 1280) or (name == "review" and 1240 <= im.shape[1] <= 1280)), \
        (name, None if im is None else im.shape)
    assert im.std() > 20, f"{name}.png is nearly uniform"
# the named screenshot shows the green label bar the server draws for a known face
im = cv2.imread(f"{tmp}/named.png")
b, g, r = cv2.split(im.astype(int))
green = ((abs(r - 0x2e) < 25) & (abs(g - 0x7d) < 25) & (abs(b - 0x32) < 25)).sum()
assert green > 200, f"no green name label on the live view in named.png ({green} px)"
print(f"{tmp.rsplit('/', 1)[1]}: screenshots live and named are pictures; named shows a name label")
PY
  for f in "$tmp/$which"/*.png; do cp "$f" "$tmp/$which-$(basename "$f")"; done
}

failed=0
run chrome || failed=1
if [ -x /usr/bin/firefox-esr ]; then run firefox || failed=1; else echo "firefox-esr not installed: Chromium only"; fi
exit $failed
