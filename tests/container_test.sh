#!/usr/bin/env bash
# The Containerfile built and run with Debian's podman (or a running docker): the service answers
# /healthz and its health check, runs as the faceid user, refuses to listen beyond loopback
# without a token (one line), serves the API with one, keeps the gallery in its volume across a
# new container, and publishes to the compose file's mosquitto (built from its Containerfile) on
# a shared network. Skips, saying why, where no engine can run a container here.
#   container_test.sh SOURCE_DIR
# Where Docker Hub cannot be reached, debian:bookworm-slim is replaced by a minbase bookworm made
# with debootstrap from Debian's mirror (localhost/faceid-base:bookworm, kept for the next run).
set -u
src=$(cd "$1" && pwd)
say() { echo "container_test: $*"; }
engine=
if command -v podman > /dev/null; then
  engine=podman
elif command -v docker > /dev/null && docker info > /dev/null 2>&1; then
  engine=docker
fi
[ -n "$engine" ] || { echo "skip: neither podman nor a running docker (make test-container installs podman)"; exit 77; }
tmp=$(mktemp -d)
tag=faceid-test-$$
cleanup() {
  $engine rm -f "$tag" "$tag-b" "$tag-mqtt" > /dev/null 2>&1
  $engine volume rm -f "$tag" > /dev/null 2>&1
  $engine network rm -f "$tag" > /dev/null 2>&1
  $engine rmi -f "localhost/$tag:latest" "localhost/$tag-mqtt:latest" > /dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- a base image
base=debian:bookworm-slim
if ! timeout 120 $engine pull -q "$base" > "$tmp/pull.log" 2>&1; then
  base=localhost/faceid-base:bookworm
  if ! $engine image exists "$base" 2> /dev/null && ! $engine image inspect "$base" > /dev/null 2>&1; then
    command -v debootstrap > /dev/null || { echo "skip: debian:bookworm-slim cannot be pulled ($(tail -1 "$tmp/pull.log")) and debootstrap is missing"; exit 77; }
    say "debian:bookworm-slim cannot be pulled: making $base with debootstrap (minbase)"
    if ! debootstrap --variant=minbase bookworm "$tmp/root" http://deb.debian.org/debian > "$tmp/debootstrap.log" 2>&1; then
      echo "skip: debootstrap failed: $(tail -1 "$tmp/debootstrap.log")"
      exit 77
    fi
    rm -rf "$tmp"/root/var/cache/apt/archives/*.deb "$tmp"/root/var/lib/apt/lists/*
    tar -C "$tmp/root" -c . | $engine import - "$base" > /dev/null || { echo "skip: $engine import failed"; exit 77; }
    rm -rf "$tmp/root"
  fi
fi

# ---- can this machine run a container at all?
if ! $engine run --rm "$base" true > "$tmp/probe.log" 2>&1; then
  if [ "$engine" = podman ] && command -v runc > /dev/null && grep -q 'setrlimit\|cgroups in hybrid mode' "$tmp/probe.log"; then
    # A sandbox that forbids setrlimit (even to the current limits) and a cgroup v1/v2 hybrid
    # crun refuses: runc, through a shim that drops the OCI spec's rlimits. Test harness only.
    say "podman cannot start containers here ($(head -1 "$tmp/probe.log")); using runc without rlimits"
    mkdir -p "$tmp/shim"
    cat > "$tmp/shim/runc" <<'EOF'
#!/bin/sh
# the rlimits go from the container's spec (create --bundle DIR) and from an exec's (--process FILE)
prev=
for a in "$@"; do
  case "$prev" in
    --bundle|-b) /usr/bin/python3 -c 'import json, sys; p = sys.argv[1] + "/config.json"; c = json.load(open(p)); c.get("process", {}).pop("rlimits", None); json.dump(c, open(p, "w"))' "$a" ;;
    --process|-p) /usr/bin/python3 -c 'import json, sys; p = sys.argv[1]; c = json.load(open(p)); c.pop("rlimits", None); json.dump(c, open(p, "w"))' "$a" ;;
  esac
  prev=$a
done
exec runc "$@"
EOF
    chmod +x "$tmp/shim/runc"
    printf '[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n[engine.runtimes]\nrunc = ["%s/shim/runc"]\n' "$tmp" > "$tmp/containers.conf"
    export CONTAINERS_CONF=$tmp/containers.conf
    $engine run --rm "$base" true > "$tmp/probe.log" 2>&1 || { echo "skip: $engine cannot run a container here: $(head -1 "$tmp/probe.log")"; exit 77; }
  else
    echo "skip: $engine cannot run a container here: $(head -1 "$tmp/probe.log")"
    exit 77
  fi
fi

passed=0 failed=0
check() { local what=$1; shift; if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; return 1; fi; }
format=()
[ "$engine" = podman ] && format=(--format docker)  # HEALTHCHECK is a docker-format field

# ---- build
say "building the image (apt, npm, dpkg-buildpackage inside: minutes)"
ca=()  # this machine's CAs, for npm behind a TLS-inspecting proxy (podman build can mount them)
if [ "$engine" = podman ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  ca=(-v /etc/ssl/certs/ca-certificates.crt:/run/ca.pem:ro --build-arg NODE_EXTRA_CA_CERTS=/run/ca.pem)
fi
$engine build "${format[@]}" "${ca[@]}" --build-arg DEBIAN="$base" -t "localhost/$tag:latest" -f "$src/Containerfile" "$src" > "$tmp/build.log" 2>&1
rc=$?
check "the Containerfile builds" test "$rc" = 0 || { tail -30 "$tmp/build.log" >&2; echo "$passed passed, $failed failed"; exit 1; }
# every model in the image is the file its pin names (scripts/models.sha256: sum, npm path, dest)
$engine run --rm --entrypoint sh "localhost/$tag:latest" -c 'cd /usr/share/faceid/models && find . -type f | sort | xargs sha256sum' \
  > "$tmp/image.sha256" 2> "$tmp/sha.err"
check "... its models are the pinned files (sha256 of each against scripts/models.sha256)" /usr/bin/python3 -c "
pins = {}
for line in open('$src/scripts/models.sha256'):
    f = line.split()
    if len(f) == 3 and not f[0].startswith('#'):
        pins['./' + f[2]] = f[0]
got = {p: s for s, p in (l.split() for l in open('$tmp/image.sha256'))}
assert pins and got == pins, (sorted(set(got) ^ set(pins)), [p for p in pins if got.get(p) != pins[p]])" || cat "$tmp/sha.err" >&2
check "... running as the faceid user" sh -c "[ \"\$($engine image inspect --format '{{.Config.User}}' localhost/$tag:latest)\" = faceid ]"
check "... with a volume for the gallery" sh -c "$engine image inspect --format '{{json .Config.Volumes}}' localhost/$tag:latest | grep -q /var/lib/faceid"
check "... and a health check on /healthz" sh -c "$engine image inspect --format '{{json .Config.Healthcheck}}' localhost/$tag:latest | grep -q healthz"
check "... two stages: no compiler in the image" sh -c "! $engine run --rm --entrypoint sh localhost/$tag:latest -c 'command -v cc || command -v cmake'"

# ---- run
$engine run --rm "localhost/$tag:latest" > "$tmp/notoken.out" 2> "$tmp/notoken.err"
rc=$?
grep -v '^time=' "$tmp/notoken.err" > "$tmp/notoken.lines"  # podman's own notices are not the service's
check "without FID_TOKEN: refused in one line ($(cat "$tmp/notoken.lines"))" test "$rc" != 0 -a "$(wc -l < "$tmp/notoken.lines")" = 1
token=$(head -c 18 /dev/urandom | base64 | tr '+/' 'ab')
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run() {  # run NAME: the service with the test's token, port and volume
  $engine run -d --name "$1" -e FID_TOKEN="$token" -p "127.0.0.1:$port:8080" -v "$tag:/var/lib/faceid" \
    "localhost/$tag:latest" > /dev/null
}
up() {
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
run "$tag"
check "the container answers /healthz" up || $engine logs "$tag" >&2
if [ "$engine" = podman ]; then
  check "... and its health check passes" $engine healthcheck run "$tag"
fi
check "... as the faceid user" sh -c "[ \"\$($engine exec $tag id -un)\" = faceid ]"
check "... in the video group" sh -c "$engine exec $tag id -nG | grep -qw video"
check "the API without the token: 401" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/api/v1/people)\" = 401 ]"
auth="Authorization: Bearer $token"
check "enroll through the API" sh -c "curl -sf -o /dev/null -H '$auth' --data-binary @'$src/.cache/models/samples/sample1.jpg' 'http://127.0.0.1:$port/api/v1/people/alice/photos?force=1'"
check "identify through the API" sh -c "curl -sf -H '$auth' --data-binary @'$src/.cache/models/samples/sample1.jpg' http://127.0.0.1:$port/api/v1/identify | grep -q '\"alice\"'"
$engine rm -f "$tag" > /dev/null
run "$tag-b"
check "a new container on the same volume: up" up
check "... alice still enrolled (the gallery lives in the volume)" sh -c "curl -sf -H '$auth' http://127.0.0.1:$port/api/v1/people | grep -q '\"alice\"'"
$engine rm -f "$tag-b" > /dev/null

# ---- compose's wiring by hand: mosquitto from its Containerfile, faceid --mqtt mosquitto:1883
$engine build "${format[@]}" --build-arg DEBIAN="$base" -t "localhost/$tag-mqtt:latest" \
  -f "$src/contrib/container/mosquitto.Containerfile" "$src/contrib/container" > "$tmp/mqtt-build.log" 2>&1
check "compose's mosquitto builds" test $? = 0 || tail -20 "$tmp/mqtt-build.log" >&2
$engine network create "$tag" > /dev/null 2>&1
$engine run -d --name "$tag-mqtt" --network "$tag" --network-alias mosquitto "localhost/$tag-mqtt:latest" > /dev/null
# the name "mosquitto" as compose gives it; a network without a DNS plugin (Debian's podman
# without the dnsname plugin) does not, so the address is also passed by hand
mqtt_ip=$($engine inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$tag-mqtt")
$engine run -d --name "$tag" --network "$tag" --add-host "mosquitto:$mqtt_ip" -e FID_TOKEN="$token" \
  -p "127.0.0.1:$port:8080" -v "$tag:/var/lib/faceid" \
  "localhost/$tag:latest" serve --config /etc/faceid/faceid.ini --listen 0.0.0.0:8080 --mqtt mosquitto:1883 > /dev/null
check "faceid beside mosquitto: up" up || $engine logs "$tag" >&2
# the service's retained availability and Home Assistant discovery reach the broker
$engine exec "$tag-mqtt" mosquitto_sub -h localhost -t 'faceid/#' -t 'homeassistant/#' -v -W 30 -C 1 > "$tmp/mqtt.out" 2>&1
check "... publishing to it (retained: $(head -c 80 "$tmp/mqtt.out"))" grep -q '^\(faceid\|homeassistant\)/' "$tmp/mqtt.out"
if /usr/bin/python3 -c 'import yaml' 2> /dev/null; then
  check "compose.yaml: faceid and mosquitto, the same command, port on 127.0.0.1, the volume" /usr/bin/python3 -c "
import yaml
c = yaml.safe_load(open('$src/compose.yaml'))
f, m = c['services']['faceid'], c['services']['mosquitto']
assert f['build']['dockerfile'] == 'Containerfile' and m['build']['dockerfile'] == 'mosquitto.Containerfile'
assert f['command'][-2:] == ['--mqtt', 'mosquitto:1883'] and f['ports'] == ['127.0.0.1:8080:8080']
assert f['volumes'][0] == 'faceid:/var/lib/faceid' and 'faceid' in c['volumes']
assert 'FID_TOKEN' in f['environment']"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
