#!/usr/bin/python3
"""Decodes images with Pillow (Debian's, on the same libjpeg-turbo as faceid) into raw RGB files
for tests/oracle/faces.js, which has no JPEG decoder of its own.
    decode.py OUT_DIR IMAGE...   ->  OUT_DIR/<name>.rgb and OUT_DIR/index.json"""
import hashlib
import json
import os
import sys

from PIL import Image, ImageOps

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
index = []
for path in sys.argv[2:]:
    im = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    raw = im.tobytes()
    name = os.path.splitext(os.path.basename(path))[0]
    with open(os.path.join(out, name + ".rgb"), "wb") as f:
        f.write(raw)
    index.append({"name": name, "file": os.path.basename(path), "width": im.width, "height": im.height,
                  "sha256": hashlib.sha256(raw).hexdigest()})
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(index, f)
