#!/usr/bin/env bash
# make deb's packages, installed on this machine with dpkg (root only; skipped when faceid is
# already installed from a package, so a user's install is never touched), then used as a user
# would: faceid --version, the demo's enroll and identify on the packaged models, an external C
# program with pkg-config, `import faceid` in Debian's python3; then purged, leaving nothing.
#   deb_test.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 src=$(cd "$2" && pwd)
samples=$src/.cache/models/samples
[ -d "$samples" ] || { echo "skip: no models installed by scripts/setup"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "skip: installing packages needs root"; exit 77; }
command -v dpkg-deb > /dev/null && command -v dpkg-shlibdeps > /dev/null || { echo "skip: needs dpkg-dev"; exit 77; }
# a sanitizer build's library needs its runtime loaded first: programs and python3 from outside
# the build cannot load it (make test-asan covers the library through the other tests)
ldd "$build/libfaceid.so" 2>/dev/null | grep -q 'libasan\|libtsan' && { echo "skip: a sanitizer build (libfaceid.so needs libasan preloaded)"; exit 77; }
for p in faceid libfaceid-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" && { echo "skip: $p is installed here already"; exit 77; }
done
[ -e /usr/bin/faceid ] && { echo "skip: /usr/bin/faceid exists and is not from a package"; exit 77; }
tmp=$(mktemp -d)
trap 'dpkg --purge libfaceid-dev faceid > /dev/null 2>&1; rm -rf "$tmp"' EXIT
passed=0 failed=0
check() { local what=$1; shift; if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi; }
unset FID_MODEL_DIR FID_LIBRARY

"$src/scripts/deb" "$build" "$tmp/debs" > "$tmp/deb.log" 2>&1
check "make deb builds faceid and libfaceid-dev" sh -c "ls '$tmp/debs'/faceid_*.deb '$tmp/debs'/libfaceid-dev_*.deb > /dev/null" || cat "$tmp/deb.log" >&2
check "faceid's Depends come from its binaries (dpkg-shlibdeps)" sh -c "dpkg-deb -f '$tmp'/debs/faceid_*.deb Depends | grep -q 'libdnnl'"
dpkg -i "$tmp"/debs/faceid_*.deb "$tmp"/debs/libfaceid-dev_*.deb > "$tmp/dpkg.log" 2>&1
check "dpkg -i installs both" test $? = 0 || cat "$tmp/dpkg.log" >&2
cd "$tmp"
check "faceid --version from /usr/bin" sh -c "/usr/bin/faceid --version | grep -q '^faceid '"
export FID_GALLERY=$tmp/g.db
check "the demo on the packaged models: enroll" sh -c "/usr/bin/faceid enroll --force --name alice '$samples/sample1.jpg' > /dev/null"
check "... and identify" sh -c "/usr/bin/faceid identify '$samples/sample1.jpg' | grep -q alice"
# the demo's last step: a clip followed live, the enrolled person named in the events
if command -v ffmpeg > /dev/null; then
  ffmpeg -v error -y -loop 1 -i /usr/share/faceid/models/samples/sample1.jpg -vf scale=960:-2 -t 2 -r 10 -pix_fmt yuv420p "$tmp/clip.mp4"
  check "... and live on a clip: alice named" sh -c "/usr/bin/faceid live --source '$tmp/clip.mp4' --events - --no-window 2> /dev/null | grep -q '\"name\":\"alice\"'"
fi
check "the man page" sh -c "test -f /usr/share/man/man1/faceid-serve.1.gz"
cc -std=c11 -o "$tmp/example" "$src/tests/install/example.c" $(pkg-config --cflags --libs faceid) 2> "$tmp/cc.err"
check "an external program with pkg-config --cflags --libs faceid" test -x "$tmp/example" || cat "$tmp/cc.err" >&2
check "... runs on /usr/lib's libfaceid.so.0 and /usr/share's models" sh -c "'$tmp/example' '$samples/sample1.jpg' '$samples/sample1.jpg' | grep -q 'models in /usr/share/faceid/models: .* same person'"
check "python3 -c 'import faceid' (Debian's python3)" sh -c "cd / && /usr/bin/python3 -c 'import faceid; assert faceid.model_dir() == \"/usr/share/faceid/models\"'"
dpkg --purge libfaceid-dev faceid > "$tmp/dpkg.log" 2>&1
check "dpkg --purge removes them" test $? = 0
check "... leaving nothing of faceid" sh -c "! ls -d /usr/bin/faceid /usr/share/faceid /usr/include/faceid.h /usr/lib/libfaceid* /usr/lib/python3/dist-packages/faceid 2>/dev/null | grep -q ."
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
