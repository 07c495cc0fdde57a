#!/usr/bin/env bash
# The VGGFace2 ResNet-50 profile and generic ONNX embedders through the CLI, with the random-weight
# test models of tests/oracle/onnx_models.py (the real weights are not installable here): the .h5
# and the .onnx give the same descriptor; enroll / calibrate / identify run on a gallery of that
# model; a gallery of another model is refused naming both; bad --model specs fail in one line.
#   model_cli_test.sh FACEID_BINARY MODELS_DIR MODEL_DIR
set -u
faceid=$1 models=$2 samples=${FID_MODEL_DIR:-$3}/samples
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() { local what=$1; shift; if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi; }
h5="vggface2-resnet50=$models/vggface2_resnet50.h5" onnx="vggface2-resnet50=$models/vggface2_resnet50.onnx"
"$faceid" embed --json --model "$h5" "$samples/sample2.jpg" > "$tmp/h5.json" 2>/dev/null
"$faceid" embed --json --model "$onnx" "$samples/sample2.jpg" > "$tmp/onnx.json" 2>/dev/null
check "h5 and onnx: same 2048-d descriptor" /usr/bin/python3 - "$tmp/h5.json" "$tmp/onnx.json" <<'PY'
import json, math, sys
a, b = (json.load(open(p))["files"][0] for p in sys.argv[1:])
va, vb = a["faces"][0]["descriptor"], b["faces"][0]["descriptor"]
assert a["profile"].startswith("vggface2-resnet50:") and a["dim"] == len(va) == len(vb) == 2048, (a["profile"], a["dim"])
cos = sum(x * y for x, y in zip(va, vb)) / math.sqrt(sum(x * x for x in va) * sum(y * y for y in vb))
assert cos > 0.99999, cos
PY
"$faceid" embed --json --model "onnx:$models/arcface_small.onnx" "$samples/sample2.jpg" > "$tmp/arc.json" 2>/dev/null
check "onnx:FILE embedder: 128-d unit vector, model id = onnx:<hash of the weights>" /usr/bin/python3 - "$tmp/arc.json" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))["files"][0]
v = d["faces"][0]["descriptor"]
assert re.fullmatch("onnx:[0-9a-f]{16}", d["profile"]) and len(v) == 128 and abs(sum(x * x for x in v) - 1) < 1e-4, d["profile"]
PY
# Model identity is the weights, not the file name (issue 12): a copy under another name is the
# same model, another network under the same name is not, and a NaN weight is refused at load.
mkdir -p "$tmp/copy" "$tmp/other"
cp "$models/arcface_small.onnx" "$tmp/copy/renamed.onnx"
/usr/bin/python3 - "$models/arcface_small.onnx" "$tmp/other/arcface_small.onnx" "$tmp/nan.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import numpy_helper
for out, how in ((sys.argv[2], "scale"), (sys.argv[3], "nan")):
    m = onnx.load(sys.argv[1])
    init = max(m.graph.initializer, key=lambda t: np.prod(t.dims))
    w = numpy_helper.to_array(init).copy()
    if how == "scale":
        w *= 1.01
    else:
        w.flat[7] = np.nan
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(m, out)
PY
export FID_GALLERY=$tmp/arc.db
"$faceid" enroll --force --model "onnx:$models/arcface_small.onnx" --name carol "$samples/sample2.jpg" > /dev/null 2>&1
"$faceid" identify --model "onnx:$tmp/copy/renamed.onnx" "$samples/sample2.jpg" > /dev/null 2> "$tmp/err"
check "the same weights under another file name open the gallery" test $? -le 1 -a ! -s "$tmp/err"
"$faceid" identify --model "onnx:$tmp/other/arcface_small.onnx" "$samples/sample2.jpg" > /dev/null 2> "$tmp/err"; rc=$?
check "other weights under the same file name are refused ($(head -c 160 "$tmp/err"))" test $rc = 2 -a "$(wc -l < "$tmp/err")" = 1
"$faceid" embed --model "onnx:$tmp/nan.onnx" "$samples/sample2.jpg" > /dev/null 2> "$tmp/err"; rc=$?
check "a NaN weight is refused in one line naming the file ($(cat "$tmp/err"))" test $rc = 2 -a "$(wc -l < "$tmp/err")" = 1 -a "$(grep -c "nan.onnx.*non-finite" "$tmp/err")" = 1
unset FID_GALLERY
bin=$faceid
. "$(dirname "$0")/../scripts/lib/clips.sh"
make_clip sample1.jpg 1 "$tmp/alice.mp4" 2 && make_clip sample3.jpg 2 "$tmp/bob.mp4" 2
export FID_GALLERY=$tmp/vgg.db
for p in alice bob; do "$faceid" enroll --model "$h5" --name "$p" "$tmp/$p.mp4" > /dev/null 2>&1; done
check "enroll with --model vggface2-resnet50=FILE" test "$("$faceid" list 2>/dev/null | grep -cE '^(alice|bob)')" = 2
"$faceid" calibrate --dry-run > "$tmp/cal" 2>&1
check "calibrate runs on a vggface2 gallery ($(tail -1 "$tmp/cal"))" test $? = 0
"$faceid" identify --model "$h5" --json "$samples/sample3.jpg" > "$tmp/id.json" 2>/dev/null
check "identify with the same model" /usr/bin/python3 -c "import json; d=json.load(open('$tmp/id.json')); assert d['files'][0]['faces']"
"$faceid" identify "$samples/sample3.jpg" 2> "$tmp/err" > /dev/null
check "default model on a vggface2 gallery: refused naming both" grep -q "vggface2-resnet50.*faceapi-128" "$tmp/err"
one_line() { "$faceid" embed --model "$1" "$samples/sample2.jpg" 2> "$tmp/err" > /dev/null; [ $? = 2 ] && [ "$(wc -l < "$tmp/err")" = 1 ] || { cat "$tmp/err" >&2; return 1; }; }
check "profile without its file" one_line vggface2-resnet50
check "missing file" one_line "vggface2-resnet50=$tmp/nothing.h5"
check "wrong architecture" one_line "vggface2-resnet50=$models/not_vggface.h5"
check "unknown profile" one_line "nosuch"
check "an ONNX model that is not an embedder" one_line "onnx:$models/ops.onnx"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
