#!/usr/bin/env bash
# History that survives the process (issue 26): faceid serve writes its events (and their crops)
# to the gallery's database; after a kill -9 and a restart GET /api/v1/events still lists them,
# ids go on, paging works; a rename or a delete in the gallery (here from the CLI while the
# service is down) takes the history along; retention applies to what is stored.
#   history_test.sh FACEID_BINARY MODEL_DIR
set -u
faceid=$1 samples=${FID_MODEL_DIR:-$2}/samples
[ -d "$samples" ] || { echo "skip: no sample photos in $samples"; exit 77; }
command -v curl > /dev/null || { echo "skip: no curl"; exit 77; }
command -v ffmpeg > /dev/null || { echo "skip: no ffmpeg (the camera clip)"; exit 77; }
tmp=$(mktemp -d); pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
export FID_GALLERY=$tmp/g.db
. "$(dirname "$0")/serve_lib.sh"
is_jpeg() { curl -sf "$1" | head -c 2 | od -An -tx1 | tr -d ' \n' | grep -q '^ffd8$'; }

"${SETUP:-$faceid}" enroll --force --name alice "$samples/sample1.jpg" > /dev/null 2>&1
bin=${SETUP:-$faceid}; . "$(dirname "$0")/../scripts/lib/clips.sh"
make_clip sample1.jpg 1 "$tmp/a.mp4" 4 1.2 && fit_clip "$tmp/a.mp4" "$tmp/cam.mp4"

# ---- seen, then kill -9
start --source "door=$tmp/cam.mp4"
base=localhost:$port
# the bound only catches a camera that never names her (a busy machine is slow, not wrong)
check "the camera names alice" poll 240 "any(e['name'] == 'alice' and 'crop' in e for e in d['events'])" "$base/api/v1/events?limit=10000"
sleep 2 # the history writes once a second: what is older than that is on disk
curl -s "$base/api/v1/events?limit=10000" > "$tmp/before.json"
kill -9 "$srv"; wait "$srv" 2>/dev/null
seen=$(/usr/bin/python3 -c "import json; d=json.load(open('$tmp/before.json'))['events']; print(len(d), [e for e in d if e['name'] == 'alice' and 'crop' in e][0]['id'], max(e['id'] for e in d))")
set -- $seen; n_before=$1 alice_id=$2 max_id=$3

# ---- after the restart: the same events, their crops, ids going on
start
base=localhost:$port
check "after kill -9 and a restart, the events are listed" req 200 "$base/api/v1/events?limit=10000"
check "... alice's event with its id, name, camera and crop" json "
e = [x for x in d['events'] if x['id'] == $alice_id]
assert e and e[0]['name'] == 'alice' and e[0]['source'] == 'door' and e[0]['crop'].endswith('/crop.jpg'), d['events'][:3]
old = {x['id']: x for x in json.load(open('$tmp/before.json'))['events']}
assert all(old[i]['name'] == x['name'] and old[i]['time'] == x['time'] for i, x in ((x['id'], x) for x in d['events']) if i in old)
assert len([x for x in d['events'] if x['id'] in old]) >= len(old) - 10, (len(d['events']), len(old))"
check "... her crop from the history is a JPEG" is_jpeg "$base/api/v1/events/$alice_id/crop.jpg"
check "paging: before=ID gives older events only" req 200 "$base/api/v1/events?before=$alice_id&limit=10000"
check "... all older" json "assert all(x['id'] < $alice_id for x in d['events']), d"
check "a filter by name reads the history" req 200 "$base/api/v1/events?name=alice&limit=1"
n_alice=$(/usr/bin/python3 -c "import json; print(len([e for e in json.load(open('$tmp/before.json'))['events'] if e['name'] == 'alice']))")
check "... one, and 'truncated' when there are more ($n_alice)" json "assert len(d['events']) == 1 and d['events'][0]['name'] == 'alice' and d['truncated'] == ($n_alice > 1), d"
check "before=x: 400" req 400 "$base/api/v1/events?before=x"
kill -TERM "$srv"; wait "$srv"
start --source "door=$tmp/cam.mp4"
base=localhost:$port
check "new events after the restart take ids after the stored ones" poll 240 "any(e['id'] > $max_id for e in d['events'])" "$base/api/v1/events?limit=10000"
check "... and no id twice" json "ids = [e['id'] for e in d['events']]; assert len(ids) == len(set(ids)), ids"
kill -TERM "$srv"; wait "$srv"
check "SIGTERM writes the last events (exit 0)" test $? = 0

# ---- the gallery's changes take the history along (the CLI, with the service down)
"$faceid" rename alice alicia > /dev/null
start
base=localhost:$port
check "a rename in the gallery renames her history" req 200 "$base/api/v1/events?name=alicia&limit=10000"
check "... all her events" json "assert len(d['events']) >= 1 and all(e['name'] == 'alicia' for e in d['events']), d"
kill -TERM "$srv"; wait "$srv"
"$faceid" remove alicia > /dev/null
start
base=localhost:$port
check "a delete in the gallery deletes her history" req 200 "$base/api/v1/events?limit=10000"
check "... no event names her, strangers' stay" json "assert not [e for e in d['events'] if e['name'] in ('alice', 'alicia')], d"
check "... nor is her crop kept" req 404 "$base/api/v1/events/$alice_id/crop.jpg"
kill -TERM "$srv"; wait "$srv"

# ---- retention applies to the stored events
printf '[retention]\nevents-hours = 0.0001\n' > "$tmp/short.ini"
start --config "$tmp/short.ini"
base=localhost:$port
check "events past events-hours are removed from the history" poll 30 "d['events'] == []" "$base/api/v1/events?limit=10000"
kill -TERM "$srv"; wait "$srv"
"${SETUP:-$faceid}" enroll --force --name alice "$samples/sample1.jpg" > /dev/null 2>&1
printf '[retention]\nhistory-crops = 0\n[door]\nsource = %s\n' "$tmp/cam.mp4" > "$tmp/nocrops.ini"
start --config "$tmp/nocrops.ini"
base=localhost:$port
check "history-crops = 0: events still named" poll 240 "any(e['name'] == 'alice' for e in d['events'])" "$base/api/v1/events?limit=10000"
sleep 2
kill -9 "$srv"; wait "$srv" 2>/dev/null
start
base=localhost:$port
check "... and after a restart listed without crops" req 200 "$base/api/v1/events?limit=10000"
check "... (none written)" json "assert d['events'] and not [e for e in d['events'] if 'crop' in e], d"
kill -TERM "$srv"; wait "$srv"
printf '[retention]\nhistory = 0\n' > "$tmp/off.ini"
start --config "$tmp/off.ini"
base=localhost:$port
check "history = 0: events in memory only (none from before)" req 200 "$base/api/v1/events?limit=10000"
check "... empty" json "assert d['events'] == [], d"
kill -TERM "$srv"; wait "$srv"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
