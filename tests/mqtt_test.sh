#!/usr/bin/env bash
# faceid serve's MQTT against a real broker: Debian's mosquitto, started here on a loopback port.
# Events per camera, retained presence per person, crops, availability with a last will, and the
# broker going away and coming back while the camera keeps running.
#   mqtt_test.sh FACEID_BINARY MODEL_DIR
set -u
faceid=$1 samples=${FID_MODEL_DIR:-$2}/samples
[ -d "$samples" ] || { echo "skip: no sample photos in $samples"; exit 77; }
broker=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$broker" ] && command -v mosquitto_sub > /dev/null || { echo "skip: mosquitto and mosquitto-clients are not installed (scripts/setup installs them)"; exit 77; }
command -v ffmpeg > /dev/null || { echo "skip: no ffmpeg"; exit 77; }
tmp=$(mktemp -d); pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
export FID_GALLERY=$tmp/g.db
passed=0 failed=0
check() { local what=$1; shift; [ -n "${TRACE:-}" ] && echo "$(date +%T) $what" >&2; if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi; }
free_port() { /usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
mport=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n' "$mport" > "$tmp/mosquitto.conf"
start_broker() {
  "$broker" -c "$tmp/mosquitto.conf" > "$tmp/broker.log" 2>&1 & pids+=($!); bpid=$!
  for _ in $(seq 50); do mosquitto_pub -h 127.0.0.1 -p "$mport" -t ready -m 1 2> /dev/null && return 0; sleep 0.1; done
  cat "$tmp/broker.log" >&2; return 1
}
start_broker
bin=$faceid; . "$(dirname "$0")/../scripts/lib/clips.sh"
make_clip sample1.jpg 1 "$tmp/a.mp4" 2 1.2 && fit_clip "$tmp/a.mp4" "$tmp/p1.mp4"
make_clip sample5.jpg 1 "$tmp/b.mp4" 2 && fit_clip "$tmp/b.mp4" "$tmp/p2.mp4"
printf "file '%s'\n" "$tmp/p1.mp4" "$tmp/p2.mp4" > "$tmp/parts.txt"
ffmpeg -v error -y -f concat -safe 0 -i "$tmp/parts.txt" -c copy "$tmp/cam.mp4"
"$faceid" enroll --force --name alice "$samples/sample1.jpg" > /dev/null 2>&1

# everything under faceid/, one line per message: topic, retained flag, payload length, payload
mosquitto_sub -h 127.0.0.1 -p "$mport" -t 'faceid/#' -F '%t %r %l %p' > "$tmp/all" 2> /dev/null & pids+=($!)
mosquitto_sub -h 127.0.0.1 -p "$mport" -t 'homeassistant/#' -F '%t %r %l %p' > "$tmp/ha" 2> /dev/null & pids+=($!)
port=$(free_port)
printf '[server]\nnode = test-node\n[mqtt]\nhost = 127.0.0.1\nport = %s\ncrops = 1\n[door]\nsource = %s\n' "$mport" "$tmp/cam.mp4" > "$tmp/faceid.ini"
"$faceid" serve --listen "127.0.0.1:$port" --config "$tmp/faceid.ini" 2> "$tmp/serve.err" & pids+=($!); srv=$!
base=localhost:$port
# wait_for SECONDS COMMAND...: until the command succeeds
wait_for() { local until=$(( $(date +%s) + $1 )); shift; while [ "$(date +%s)" -le "$until" ]; do "$@" 2>/dev/null && return 0; sleep 0.3; done; return 1; }
check "online on faceid/available (retained)" wait_for 15 grep -q '^faceid/available [01] 6 online' "$tmp/all"
check "events on faceid/door/events" wait_for 20 grep -q '^faceid/door/events 0 [0-9]* {.*"event":"identified".*"name":"alice"' "$tmp/all"
check "... as the events file's JSON" /usr/bin/python3 -c "
import json
lines = [l.split(' ', 3) for l in open('$tmp/all', errors='replace') if l.startswith('faceid/door/events ')]
for topic, retained, n, payload in lines:
    e = json.loads(payload)
    assert e['schema'] == 1 and e['source'] == 'door' and e['event'] in ('appeared', 'identified', 'changed', 'left'), e
    assert isinstance(e['box'], list) and len(e['box']) == 4 and isinstance(e['track'], int), e
assert lines"
check "presence on faceid/people/alice" wait_for 10 grep -q '^faceid/people/alice 0 [0-9]* {"name":"alice","camera":"door","last_seen":"20.*","present":true}' "$tmp/all"
check "... retained: a new subscriber gets it at once" sh -c "mosquitto_sub -h 127.0.0.1 -p $mport -t faceid/people/alice -C 1 -W 3 | grep -q '\"camera\":\"door\"'"
check "face crops on faceid/door/alice/snapshot" wait_for 10 grep -aq '^faceid/door/alice/snapshot 0 [1-9][0-9][0-9]' "$tmp/all"
check "strangers' crops on faceid/door/unknown/snapshot" wait_for 10 grep -aq '^faceid/door/unknown/snapshot 0 [1-9][0-9][0-9]' "$tmp/all"
# Home Assistant discovery: a sensor per person and per camera, one device, available with the service
ha_person=homeassistant/sensor/faceid_test_2dnode_person_alice/config
ha_camera=homeassistant/sensor/faceid_test_2dnode_camera_door/config
check "discovery: a sensor for alice ($ha_person, retained)" wait_for 15 grep -q "^$ha_person [01] " "$tmp/ha"
check "... reading her presence topic, on the service's device and availability" /usr/bin/python3 -c "
import json
c = json.loads([l.split(' ', 3)[3] for l in open('$tmp/ha') if l.startswith('$ha_person ')][0])
assert c['state_topic'] == 'faceid/people/alice' and c['json_attributes_topic'] == 'faceid/people/alice', c
assert c['availability_topic'] == 'faceid/available' and c['unique_id'] == 'faceid_test_2dnode_person_alice', c
assert c['device']['identifiers'] == ['faceid_test-node'] and c['value_template'] == '{{ value_json.camera }}', c"
check "discovery: a sensor for camera door" wait_for 15 grep -q "^$ha_camera [01] .*\"state_topic\":\"faceid/door/people\"" "$tmp/ha"
check "who the camera sees now: faceid/door/people (retained) names alice" wait_for 20 grep -q '^faceid/door/people [01] [0-9]* {"people":\["alice"\],"count":1,' "$tmp/all"
check "... and nobody once she left" wait_for 30 grep -q '^faceid/door/people [01] [0-9]* {"people":\[\],"count":0,' "$tmp/all"
check "a person enrolled through the API gets a sensor" sh -c "curl -s --data-binary @'$samples/sample4.jpg' '$base/api/v1/people/carol/photos?force=1' > /dev/null"
check "... within seconds" wait_for 15 grep -q "^homeassistant/sensor/faceid_test_2dnode_person_carol/config [01] " "$tmp/ha"
frames() { curl -s "$base/api/v1/cameras" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['cameras'][0]['frames'])"; }
check "metrics: connected" sh -c "curl -s $base/metrics | grep -q '^faceid_mqtt_connected 1'"

# the broker goes away: the camera goes on; it comes back: events flow again
kill "$bpid"; wait "$bpid" 2>/dev/null
# 30 more frames with the broker gone: 3 s on an idle machine; the bound is for a busy one, where
# 3 s gave exactly 30 (not a speed test)
f0=$(frames)
beyond() { [ "$(frames)" -gt "$1" ]; }
check "broker down: the camera keeps running (from frame $f0)" wait_for 60 beyond $((f0 + 30))
check "... metrics say disconnected" sh -c "curl -s $base/metrics | grep -q '^faceid_mqtt_connected 0'"
check "... and the log says so in one line, not a flood" test "$(grep -c MQTT "$tmp/serve.err")" -le 3
start_broker
mosquitto_sub -h 127.0.0.1 -p "$mport" -t 'faceid/#' -F '%t %r %l %p' > "$tmp/after" 2> /dev/null & pids+=($!)
check "broker back: reconnected" wait_for 40 sh -c "curl -s $base/metrics | grep -q '^faceid_mqtt_connected 1'"
check "... events flow again" wait_for 20 grep -q '^faceid/door/events ' "$tmp/after"
check "... and online is published again" grep -q '^faceid/available [01] 6 online' "$tmp/after"

# deleting a person takes their retained presence with them
check "presence of alice is back (retained)" wait_for 20 sh -c "mosquitto_sub -h 127.0.0.1 -p $mport -t faceid/people/alice -C 1 -W 2 | grep -q alice"
curl -s -X DELETE "$base/api/v1/people/alice" > /dev/null
sleep 0.5
check "delete alice: her retained presence is cleared" sh -c "! mosquitto_sub -h 127.0.0.1 -p $mport -t faceid/people/alice -C 1 -W 2 2>/dev/null | grep -q ."
check "... and her Home Assistant sensor removed" wait_for 10 sh -c "! mosquitto_sub -h 127.0.0.1 -p $mport -t $ha_person -C 1 -W 2 2>/dev/null | grep -q ."
kill -TERM "$srv"; wait "$srv"; rc=$?
check "SIGTERM: exit 0 ($rc)" test "$rc" = 0
check "... offline on faceid/available (retained)" sh -c "mosquitto_sub -h 127.0.0.1 -p $mport -t faceid/available -C 1 -W 3 | grep -qx offline"

# a broker that is not there at start: serve starts anyway and says so once
kill "$bpid"; wait "$bpid" 2>/dev/null
port=$(free_port)
"$faceid" serve --listen "127.0.0.1:$port" --mqtt "127.0.0.1:$mport" 2> "$tmp/serve.err" & pids+=($!); srv=$!
check "no broker at start: the API still serves" wait_for 15 curl -sfo /dev/null "localhost:$port/healthz"
kill -TERM "$srv"; wait "$srv"; rc=$?
check "... and stops cleanly ($rc)" test "$rc" = 0

# MQTT over TLS: a broker with a certificate from a CA of our own
if command -v openssl > /dev/null; then
  ( cd "$tmp" &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca 2>/dev/null &&
    openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost 2>/dev/null &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext &&
    openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 1 -extfile san.ext 2>/dev/null &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 1 -subj /CN=other-ca 2>/dev/null )
  tport=$(free_port)
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\ncafile %s\ncertfile %s\nkeyfile %s\n' \
    "$tport" "$tmp/ca.pem" "$tmp/srv.pem" "$tmp/srv.key" > "$tmp/tls.conf"
  "$broker" -c "$tmp/tls.conf" > "$tmp/tls.log" 2>&1 & pids+=($!)
  wait_for 10 mosquitto_pub -h localhost -p "$tport" --cafile "$tmp/ca.pem" -t ready -m 1
  mosquitto_sub -h localhost -p "$tport" --cafile "$tmp/ca.pem" -t 'faceid/#' -F '%t %r %l %p' > "$tmp/tls-all" 2> /dev/null & pids+=($!)
  port=$(free_port)
  printf '[mqtt]\nhost = localhost\nport = %s\nca-file = %s\n' "$tport" "$tmp/ca.pem" > "$tmp/tls.ini"
  "$faceid" serve --listen "127.0.0.1:$port" --config "$tmp/tls.ini" 2> "$tmp/serve.err" & pids+=($!); srv=$!
  check "TLS with ca-file: online over TLS" wait_for 15 grep -q '^faceid/available [01] 6 online' "$tmp/tls-all"
  check "... metrics: connected" wait_for 10 sh -c "curl -s localhost:$port/metrics | grep -q '^faceid_mqtt_connected 1'"
  kill -TERM "$srv"; wait "$srv"
  port=$(free_port)
  printf '[mqtt]\nhost = localhost\nport = %s\nca-file = %s\n' "$tport" "$tmp/other.pem" > "$tmp/wrong.ini"
  "$faceid" serve --listen "127.0.0.1:$port" --config "$tmp/wrong.ini" 2> "$tmp/serve.err" & pids+=($!); srv=$!
  check "a broker whose certificate another CA signed: never connected" wait_for 10 curl -sfo /dev/null "localhost:$port/healthz"
  sleep 2
  check "... (metrics: 0)" sh -c "curl -s localhost:$port/metrics | grep -q '^faceid_mqtt_connected 0'"
  kill -TERM "$srv"; wait "$srv"
  printf '[mqtt]\nhost = localhost\nport = %s\nca-file = %s/none.pem\n' "$tport" "$tmp" > "$tmp/missing.ini"
  "$faceid" serve --listen "127.0.0.1:$(free_port)" --config "$tmp/missing.ini" > /dev/null 2> "$tmp/err"; rc=$?
  check "a ca-file that is not there: one line naming it, exit 2 ($(cat "$tmp/err"))" \
    test "$rc" = 2 -a "$(wc -l < "$tmp/err")" = 1 -a "$(grep -c none.pem "$tmp/err")" = 1
else
  echo "skip: no openssl: the MQTT TLS checks"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
