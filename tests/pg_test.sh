#!/usr/bin/env bash
# The PostgreSQL gallery with a real server: the gallery suite against it, then three `faceid
# serve` nodes sharing one database. A starts enrollments, B runs a camera, C answers identify:
# an enrollment on A names the person on B's camera within a second, a removal stops it; many
# enrollments from two nodes at once all land; the database stopped, nodes keep naming people
# (and say so in /metrics and the log), refuse changes with 503, reconnect and resync; a node
# killed mid-enrollment leaves the database consistent.
#   pg_test.sh FACEID_BINARY GALLERY_TEST_BINARY MODEL_DIR
set -u
faceid=$1 gallery_test=$2 samples=${FID_MODEL_DIR:-$3}/samples
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pg_cluster.sh"
tmp=$(mktemp -d); pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null
  [ "${failed:-0}" = 0 ] || for f in "$tmp"/*.err; do echo "--- $f" >&2; tail -n 15 "$f" >&2; done
  pg_cluster_stop; rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # so the cluster and the nodes go too
pg_cluster_start || exit 77
passed=0 failed=0
check() { local what=$1; shift; if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi; }

echo "== the gallery suite against PostgreSQL"
check "gallery_test --pg" "$gallery_test" --pg

[ -d "$samples" ] || { echo "skip the node checks: no sample photos in $samples"; echo "$passed passed, $failed failed"; [ "$failed" = 0 ]; exit; }
command -v curl > /dev/null && command -v ffmpeg > /dev/null ||
  { echo "skip the node checks: need curl and ffmpeg"; echo "$passed passed, $failed failed"; [ "$failed" = 0 ]; exit; }
pg_createdb site
G="postgres:$PG_CONNINFO dbname=site"

echo "== three nodes on one database"
bin=$faceid; . "$here/../scripts/lib/clips.sh"
make_clip sample1.jpg 1 "$tmp/a.mp4" 4 1.2 && fit_clip "$tmp/a.mp4" "$tmp/cam.mp4"
free_port() { /usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
declare -A port pid
# node NAME [serve args...]: started in the background, waits for /healthz
node() {
  local n=$1; shift
  port[$n]=$(free_port)
  # PG_TEST_SERVE_ARGS: more options for every node (a ThreadSanitizer run: --threads 1)
  "$faceid" serve --listen "127.0.0.1:${port[$n]}" "$@" ${PG_TEST_SERVE_ARGS:-} 2> "$tmp/$n.err" & pid[$n]=$!; pids+=($!)
  for _ in $(seq 150); do curl -sf "localhost:${port[$n]}/healthz" > /dev/null && return 0; sleep 0.1; done
  echo "node $n did not start:" >&2; cat "$tmp/$n.err" >&2; return 1
}
json_of() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }
printf '[server]\nnode = B\n[door]\nsource = %s\n' "$tmp/cam.mp4" > "$tmp/b.ini"
printf '[server]\ngallery = %s\n' "$G" > "$tmp/c.ini"
check "node A starts (creates the schema)" node A --gallery "$G"
check "node B starts with a camera" node B --gallery "$G" --config "$tmp/b.ini"
check "node C starts (the gallery from its config file)" node C --config "$tmp/c.ini"
# the camera's tracks' names, one per line (faces in the test: sample1 alice; sample2-4 the a/c people; sample6
# shared; sample5 dora, whom nobody else in the gallery shares a face with)
track_names() { curl -s "$(url B /api/v1/cameras)" | json_of "print('\n'.join(t['name'] for c in d['cameras'] for t in c['tracks']))"; }
has_track() { track_names | grep -qx "$1"; }
# B's camera answers, has tracks, and none is $1 (an unreachable node is not "not naming her")
lacks_track() { curl -s "$(url B /api/v1/cameras)" | json_of "n = [t['name'] for c in d['cameras'] for t in c['tracks']]; assert n and '$1' not in n, n"; }
identify_names() { curl -s --data-binary @"$samples/sample${2:-1}.jpg" "$(url C /api/v1/identify)" | json_of "print('\n'.join(f['name'] for f in d['faces']))" | grep -qx "$1"; }
# the answer lists faces and none of them is $1 (a failed request or a missing helper fails the check)
identify_lacks() { curl -s --data-binary @"$samples/sample${2:-1}.jpg" "$(url C /api/v1/identify)" | json_of "n = [f['name'] for f in d['faces']]; assert n and '$1' not in n, n"; }
metric() { curl -s "$(url "$1" /metrics)" | grep -qxF "$2"; }
# bash cannot export arrays: what wait_for's shells call reads port_X
url() { local v="port_$1"; echo "localhost:${!v}$2"; }
export -f track_names has_track lacks_track identify_names metric url json_of pg_sql
export samples PG_CONNINFO; for n in A B C; do export "port_$n=${port[$n]}"; done
# wait_for SECONDS 'SHELL COMMAND': polls every 20 ms; prints the seconds it took, or "timeout"
wait_for() {
  /usr/bin/python3 -c '
import subprocess, sys, time
limit = float(sys.argv[1]); t0 = time.monotonic()
while time.monotonic() - t0 < limit:
    if subprocess.run(["bash", "-c", sys.argv[2]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
        print(f"{time.monotonic() - t0:.3f}"); sys.exit(0)
    time.sleep(0.02)
print("timeout"); sys.exit(1)' "$1" "$2"
}
add() { /usr/bin/python3 -c "import sys; a, b = sys.argv[1:]; print('timeout' if 'timeout' in (a, b) else f'{float(a) + float(b):.3f}')" "$1" "$2"; }
within() { /usr/bin/python3 -c "import sys; sys.exit(0 if '$2' != 'timeout' and float('$2') <= $1 else 1)"; }

# "within one second" on a normal build; a sanitizer build runs the networks 2-3x slower
# propagation is measured and printed above; the check only catches a change that never arrives
# (a busy machine took 1.8 s where an idle one takes 0.6 s: speed is for make bench)
limit=15
# C's matcher has taken in the gallery's version (its /metrics reports the version it reflects)
in_sync() { curl -s "$(url C /metrics)" | awk -v v="$1" '$1 == "faceid_gallery_version" && $2 >= v { ok = 1 } END { exit !ok }'; }
export -f in_sync
check "B's camera sees a stranger first" test "$(wait_for 20 "has_track '?'")" != timeout
code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$samples/sample1.jpg" "$(url A '/api/v1/people/alice/photos?force=1')")
check "A enrolls alice ($code)" test "$code" = 201
v=$(pg_sql site "SELECT v FROM faceid.version")
# the two waits run one after the other: the camera's time counts from the enrollment too
sync_s=$(wait_for $limit "in_sync $v"); camera_s=$(wait_for $limit "has_track alice")
camera_s=$(add "$sync_s" "$camera_s")
echo "enrollment on A -> C's matcher has it: $sync_s s; named on B's camera: $camera_s s"
check "... C's matcher has it within $limit s ($sync_s)" within $limit "$sync_s"
check "... B's camera names alice within $limit s ($camera_s)" within $limit "$camera_s"
check "... C's identify names alice" identify_names alice
# B's camera has her events with crops; A's delete must take them from B as well (another node)
curl -s "$(url B '/api/v1/events?name=alice&limit=10000')" | json_of "print('\n'.join(e['crop'] for e in d['events'] if 'crop' in e))" > "$tmp/alice-crops"
crops_gone() { while read -r u; do [ "$(curl -s -o /dev/null -w '%{http_code}' "$(url B "$u")")" = 404 ] || return 1; done < "$tmp/alice-crops"; }
export -f crops_gone; export tmp
# B's history is in the shared database (written once a second), her crops with it
check "B's events of alice are in faceid.event, with crops" \
  test "$(wait_for 15 "[ \$(pg_sql site \"SELECT count(*) FROM faceid.event WHERE node = 'B' AND name = 'alice' AND crop IS NOT NULL\") -gt 0 ]")" != timeout
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$(url A /api/v1/people/alice)")
v=$(pg_sql site "SELECT v FROM faceid.version")
sync_s=$(wait_for $limit "in_sync $v"); removal_s=$(wait_for $limit "lacks_track alice")
removal_s=$(add "$sync_s" "$removal_s")
echo "removal on A -> C's matcher without her: $sync_s s; unnamed on B's camera: $removal_s s"
check "A removes alice ($code)" test "$code" = 204
check "... C's matcher drops her within $limit s ($sync_s)" within $limit "$sync_s"
check "... B's camera stops naming her within $limit s ($removal_s)" within $limit "$removal_s"
check "... C's identify no longer names her" identify_lacks alice
check "... and B, another node, drops her event crops ($(wc -l < "$tmp/alice-crops") of them)" \
  test -s "$tmp/alice-crops" -a "$(wait_for $limit crops_gone)" != timeout
sleep 2 # B's history writer runs once a second: nothing of hers comes back
check "... and her history is gone from the database (A's delete, B's camera meanwhile)" \
  test "$(pg_sql site "SELECT count(*) FROM faceid.event WHERE name = 'alice'")" = 0

echo "== concurrent enrollments from two nodes"
enroll_many() { # NODE PREFIX: 8 people of its own, and 'shared' each time
  for i in 1 2 3 4 5 6 7 8; do
    curl -s -o /dev/null -w '%{http_code}\n' --data-binary @"$samples/sample$(( (i % 3) + 2 )).jpg" "$(url "$1" "/api/v1/people/$2$i/photos?force=1")"
    curl -s -o /dev/null -w '%{http_code}\n' --data-binary @"$samples/sample6.jpg" "$(url "$1" "/api/v1/people/shared/photos?force=1")"
  done > "$tmp/enroll.$1"
}
enroll_many A a & e1=$!; enroll_many C c & e2=$!; wait $e1 $e2
check "every answer 201 ($(sort "$tmp/enroll.A" "$tmp/enroll.C" | uniq -c | tr '\n' ' '))" test "$(cat "$tmp/enroll.A" "$tmp/enroll.C" | grep -c '^201$')" = 32
curl -s "$(url B /api/v1/people)" > "$tmp/people"
check "B lists all 17 people, 'shared' with all 16 samples" /usr/bin/python3 -c "import json; p={x['name']: x['samples'] for x in json.load(open('$tmp/people'))['people']}; assert len(p) == 17 and p['shared'] == 16 and all(p['%s%d' % (k, i)] == 1 for k in 'ac' for i in range(1, 9)), p"
check "the change log has no hole" test "$(pg_sql site 'SELECT count(DISTINCT v) = max(v) - min(v) + 1 AND max(v) = (SELECT v FROM faceid.version) FROM faceid.change')" = t

echo "== the database goes away"
curl -s -o /dev/null --data-binary @"$samples/sample1.jpg" "$(url A '/api/v1/people/alice/photos?force=1')"
v=$(pg_sql site "SELECT v FROM faceid.version")
wait_for 10 "in_sync $v" > /dev/null; wait_for 10 "has_track alice" > /dev/null
pg_ctl_as stop -m fast
sleep 1.5
check "B's camera goes on naming alice" test "$(wait_for 10 "has_track alice")" != timeout
check "C's identify goes on naming alice" identify_names alice
check "B's /metrics: faceid_gallery_up 0" test "$(wait_for 15 "metric B 'faceid_gallery_up{backend=\"postgresql\"} 0'")" != timeout
sleep 2
check "... and the log says so, once" test "$(grep -c 'identifying with the copy in memory' "$tmp/B.err")" = 1
code=$(curl -s -o "$tmp/body" -w '%{http_code}' --data-binary @"$samples/sample5.jpg" "$(url A '/api/v1/people/dora/photos?force=1')")
check "an enrollment while it is away: 503 in one line ($code: $(cat "$tmp/body"))" test "$code" = 503 -a "$(wc -l < "$tmp/body")" -le 1
check "/healthz still ok, gallery down" sh -c "curl -s '$(url C /healthz)' | grep -q '\"up\":false'"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$(url C /readyz)")
check "/readyz: 503 while it is away ($code)" test "$code" = 503
check "... matching the OpenAPI file" /usr/bin/python3 -W ignore "$here/check_openapi.py" "$here/../openapi/faceid-api.json" GET /readyz 503 "$tmp/body"
pg_ctl_as start
back_s=$(wait_for 40 "metric B 'faceid_gallery_up{backend=\"postgresql\"} 1'")
echo "database back -> B in sync: $back_s s"
check "B reconnects (back-off <= 30 s) ($back_s)" test "$back_s" != timeout
check "... and logs it" grep -q 'reachable again' "$tmp/B.err"
check "/readyz: 200 again" test "$(wait_for 40 "curl -sf -o /dev/null '$(url C /readyz)'")" != timeout
t=$(wait_for 40 "curl -sf -o /dev/null --data-binary @'$samples/sample5.jpg' '$(url A '/api/v1/people/dora/photos?force=1')'")
check "A enrolls again once it is back ($t)" test "$t" != timeout
check "... and C names her" test "$(wait_for 40 "identify_names dora 5")" != timeout

echo "== a node killed in the middle of enrollments"
( for i in $(seq 1 40); do curl -s -o /dev/null --data-binary @"$samples/sample$(( (i % 5) + 2 )).jpg" "$(url A "/api/v1/people/k$i/photos?force=1")"; done ) &
# killed once enrollments have begun to land (a sanitizer build is slower), while more are in flight
wait_for 60 "[ \$(pg_sql site \"SELECT count(*) FROM faceid.person WHERE name LIKE 'k%'\") -ge 3 ]" > /dev/null
kill -9 "${pid[A]}"; wait "${pid[A]}" 2>/dev/null
check "every person has samples; versions and log agree" test "$(pg_sql site 'SELECT (SELECT count(*) FROM faceid.person p WHERE NOT EXISTS (SELECT 1 FROM faceid.sample s WHERE s.person = p.id)) = 0 AND (SELECT max(v) FROM faceid.change) = (SELECT v FROM faceid.version)')" = t
landed=$(pg_sql site "SELECT count(*) FROM faceid.person WHERE name LIKE 'k%'")
check "some enrollments landed before the kill ($landed)" test "$landed" -gt 0
check "B lists exactly what landed" test "$(wait_for 15 "curl -s '$(url B /api/v1/people)' | json_of \"import sys; sys.exit(0 if sum(p['name'].startswith('k') for p in d['people']) == $landed else 1)\"")" != timeout

echo "== B killed and started again: its history is still listed"
curl -s "$(url B '/api/v1/events?limit=10000')" > "$tmp/b-events"
sleep 2
kill -9 "${pid[B]}"; wait "${pid[B]}" 2>/dev/null
check "B starts again" node B --gallery "$G" --config "$tmp/b.ini"
export "port_B=${port[B]}" # url() reads the exported port
check "... and lists the events it saw before the kill" sh -c "curl -s '$(url B '/api/v1/events?limit=10000')' | /usr/bin/python3 -c \"
import json, sys
now = {e['id'] for e in json.load(sys.stdin)['events']}
before = [e['id'] for e in json.load(open('$tmp/b-events'))['events'] if e['name'] != 'alice']
assert before and all(i in now for i in before), (len(before), len(now))\""
kill -TERM "${pid[B]}" "${pid[C]}"; wait "${pid[B]}"; rb=$?; wait "${pid[C]}"; rc=$?
check "B and C exit 0 on SIGTERM ($rb $rc)" test "$rb$rc" = 00
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
