#!/usr/bin/env bash
# make deb's source package built with dpkg-buildpackage and checked by lintian (scripts/deb), its
# five packages installed with dpkg (root only; skipped when faceid is installed already, so a
# user's install is never touched), then used as a user would:
#   - the service: the faceid user (in video), /etc/faceid/faceid.ini a conffile, /var/lib/faceid
#     its own; started by systemd where systemd runs, else the unit's ExecStart run as the unit's
#     user with its environment; the page, /healthz and the API; a reload (SIGHUP, systemctl reload);
#   - the command on the packaged models, an external C program through pkg-config, Debian's
#     python3 importing faceid;
# then purged, leaving nothing of faceid but its system user (as Debian keeps system users).
#   deb_test.sh BUILD_DIR SOURCE_DIR
set -u
src=$(cd "$2" && pwd)
samples=$src/.cache/models/samples
[ -d "$samples" ] || { echo "skip: no models installed by scripts/setup"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "skip: installing packages needs root"; exit 77; }
for tool in dpkg-buildpackage dh lintian curl; do
  command -v "$tool" > /dev/null || { echo "skip: needs $tool (scripts/setup installs it)"; exit 77; }
done
# a sanitizer build's library needs its runtime loaded first: programs and python3 from outside
# the build cannot load it (make test-asan covers the library through the other tests)
ldd "$1/libfaceid.so" 2>/dev/null | grep -q 'libasan\|libtsan' && { echo "skip: a sanitizer build"; exit 77; }
for p in faceid libfaceid0 libfaceid-dev faceid-models python3-faceid; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" && { echo "skip: $p is installed here already"; exit 77; }
done
[ -e /usr/bin/faceid ] && { echo "skip: /usr/bin/faceid exists and is not from a package"; exit 77; }
tmp=$(mktemp -d)
chmod 755 "$tmp"  # the faceid user reads the test's photos
srv=
cleanup() {
  [ -n "$srv" ] && kill "$srv" 2> /dev/null
  dpkg --purge python3-faceid libfaceid-dev faceid-dbgsym libfaceid0-dbgsym faceid libfaceid0 faceid-models > /dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0 failed=0
check() { local what=$1; shift; if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; return 1; fi; }
unset FID_MODEL_DIR FID_LIBRARY FID_GALLERY PYTHONPATH
pkgs="faceid libfaceid0 libfaceid-dev faceid-models python3-faceid"

# ---- build (the package's own unit tests are make test's: nocheck here)
DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" "$src/scripts/deb" "$tmp/debs" > "$tmp/deb.log" 2>&1
rc=$?
check "make deb: dpkg-buildpackage and lintian pass" test "$rc" = 0 || { cat "$tmp/deb.log" >&2; exit 1; }
check "... a source package (.dsc, .tar.xz)" sh -c "ls '$tmp'/debs/faceid_*.dsc '$tmp'/debs/faceid_*.tar.xz > /dev/null"
for p in $pkgs; do
  check "... $p's .deb" sh -c "ls '$tmp'/debs/${p}_*.deb > /dev/null"
done
check "the library is libfaceid0's, not the command's" sh -c "dpkg-deb -c '$tmp'/debs/libfaceid0_*.deb | grep -c 'libfaceid.so.0' > /dev/null && ! dpkg-deb -c '$tmp'/debs/faceid_*_*.deb | grep -c 'libfaceid.so' > /dev/null"
check "libfaceid0's Depends come from its binary (dpkg-shlibdeps): libdnnl" sh -c "dpkg-deb -f '$tmp'/debs/libfaceid0_*.deb Depends | grep -q 'libdnnl'"
dpkg-deb --fsys-tarfile "$(ls "$tmp"/debs/faceid_*_*.deb)" | tar -xO ./lib/systemd/system/faceid.service > "$tmp/unit" 2> /dev/null
check "the unit is in faceid, running /usr/bin/faceid" grep -q '^ExecStart=/usr/bin/faceid serve' "$tmp/unit"

# ---- install
debs=()
for p in $pkgs; do debs+=("$(ls "$tmp"/debs/${p}_*.deb)"); done  # not the -dbgsym packages
dpkg -i "${debs[@]}" > "$tmp/dpkg.log" 2>&1
check "dpkg -i installs all five" test $? = 0 || cat "$tmp/dpkg.log" >&2
check "the faceid system user" sh -c "getent passwd faceid | awk -F: '\$3 < 1000 && \$6 == \"/var/lib/faceid\"' | grep -q ."
check "... in the video group (cameras)" sh -c "id -nG faceid | tr ' ' '\n' | grep -qx video"
check "/etc/faceid/faceid.ini is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' faceid | grep -q '/etc/faceid/faceid.ini'"
check "/var/lib/faceid: the faceid user's alone (0700)" sh -c "[ \"\$(stat -c '%U %a' /var/lib/faceid)\" = 'faceid 700' ]"
unit=/lib/systemd/system/faceid.service
check "the unit keeps its hardening" sh -c "grep -q '^ProtectSystem=strict' $unit && grep -q '^NoNewPrivileges=true' $unit && grep -q '^User=faceid' $unit && grep -q '^SupplementaryGroups=video' $unit"
check "... and reloads with SIGHUP (systemctl reload)" grep -q '^ExecReload=/bin/kill -HUP \$MAINPID' $unit
if command -v systemd-analyze > /dev/null; then
  systemd-analyze verify "$unit" > "$tmp/verify.log" 2>&1
  check "systemd-analyze verify: nothing about faceid.service" sh -c "! grep -i 'faceid.service' '$tmp/verify.log'" || cat "$tmp/verify.log" >&2
fi

# ---- the service as the unit runs it
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
if [ -d /run/systemd/system ]; then
  mkdir -p /run/systemd/system/faceid.service.d
  # the test's port (the packaged config's 8080 may be taken here)
  printf '[Service]\nExecStart=\nExecStart=%s --listen 127.0.0.1:%s\n' \
    "$(sed -n 's/^ExecStart=//p' $unit)" "$port" > /run/systemd/system/faceid.service.d/test.conf
  systemctl daemon-reload
  systemctl restart faceid
  how="systemd"
else
  # no systemd here (a container): ExecStart as User/Group/SupplementaryGroups, with the unit's
  # EnvironmentFile and UMask, in its state directory
  exec_start=$(sed -n 's/^ExecStart=//p' $unit)
  envfile=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' $unit)
  (
    set -a
    [ -f "$envfile" ] && . "$envfile"
    set +a
    umask "$(sed -n 's/^UMask=//p' $unit)"
    cd /var/lib/faceid
    exec setpriv --reuid=faceid --regid=faceid --init-groups --no-new-privs $exec_start --listen "127.0.0.1:$port"
  ) > "$tmp/serve.log" 2>&1 &
  srv=$!
  how="its ExecStart as faceid"
fi
up=0
for _ in $(seq 300); do curl -sf "$base/healthz" > /dev/null 2>&1 && { up=1; break; }; sleep 0.1; done
check "the service ($how) answers /healthz" test "$up" = 1 || { cat "$tmp/serve.log" >&2 2> /dev/null; journalctl -u faceid -n 20 2> /dev/null >&2; }
check "... serves the page" sh -c "curl -sf '$base/' | grep -qi '<html'"
check "... the API: no one enrolled yet" sh -c "curl -sf '$base/api/v1/people' | /usr/bin/python3 -c 'import json,sys; assert json.load(sys.stdin)[\"people\"] == []'"
cp "$samples/sample1.jpg" "$tmp/alice.jpg" && chmod 644 "$tmp/alice.jpg"
check "... enrolls through the API" sh -c "curl -sf -o /dev/null --data-binary @'$tmp/alice.jpg' '$base/api/v1/people/alice/photos?force=1'"
check "... identifies through the API" sh -c "curl -sf --data-binary @'$tmp/alice.jpg' '$base/api/v1/identify' | grep -q '\"alice\"'"
check "... keeping the gallery in /var/lib/faceid, the faceid user's" sh -c "[ \"\$(stat -c '%U' /var/lib/faceid/gallery.db)\" = faceid ]"
if [ "$how" = systemd ]; then
  systemctl reload faceid
  sleep 1
  check "systemctl reload: still serving" sh -c "systemctl is-active -q faceid && curl -sf '$base/healthz' > /dev/null"
  systemctl stop faceid
  rm -rf /run/systemd/system/faceid.service.d
  systemctl daemon-reload
else
  kill -HUP "$srv"
  reloaded=0
  for _ in $(seq 100); do grep -q 'reloaded' "$tmp/serve.log" && { reloaded=1; break; }; sleep 0.1; done
  check "SIGHUP (systemctl reload's signal): reloaded, still serving" sh -c "[ $reloaded = 1 ] && curl -sf '$base/healthz' > /dev/null" || cat "$tmp/serve.log" >&2
  kill -TERM "$srv"
  wait "$srv"
  check "SIGTERM (systemctl stop's signal): exit 0" test $? = 0
  srv=
fi

# ---- the command, a C program and Python on the installed packages
cd "$tmp"
export FID_GALLERY=$tmp/g.db
check "faceid --version from /usr/bin" sh -c "/usr/bin/faceid --version | grep -q '^faceid '"
check "the command on the packaged models: enroll" sh -c "/usr/bin/faceid enroll --force --name alice '$samples/sample1.jpg' > /dev/null"
check "... and identify" sh -c "/usr/bin/faceid identify '$samples/sample1.jpg' | grep -q alice"
check "the man pages" test -f /usr/share/man/man1/faceid-serve.1.gz
cc -std=c11 -o "$tmp/example" "$src/tests/install/example.c" $(pkg-config --cflags --libs faceid) 2> "$tmp/cc.err"
check "an external program with pkg-config --cflags --libs faceid" test -x "$tmp/example" || cat "$tmp/cc.err" >&2
check "... runs on libfaceid0 and faceid-models" sh -c "'$tmp/example' '$samples/sample1.jpg' '$samples/sample1.jpg' | grep -q 'models in /usr/share/faceid/models: .* same person'"
check "python3-faceid: Debian's python3 imports it, finding the packaged library and models" sh -c "cd / && /usr/bin/python3 -c 'import faceid; assert faceid.model_dir() == \"/usr/share/faceid/models\"; assert len(faceid.face_locations(\"$samples/sample1.jpg\")) >= 3'"

# ---- purge
dpkg --purge $pkgs > "$tmp/dpkg.log" 2>&1
check "dpkg --purge removes them" test $? = 0 || cat "$tmp/dpkg.log" >&2
check "... leaving nothing of faceid: no program, library, models, config, state or binding" sh -c "! ls -d /usr/bin/faceid /usr/share/faceid /usr/include/faceid.h /usr/lib/*/libfaceid* /usr/lib/python3/dist-packages/faceid /etc/faceid /var/lib/faceid $unit 2>/dev/null | grep -q ."
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
