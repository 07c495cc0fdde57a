#!/usr/bin/python3
"""PNG variants as ffmpeg writes them, and the pixels the ecosystem reads from them.
    png_goldens.py OUT_DIR  ->  OUT_DIR/<name>.png, OUT_DIR/<name>.rgb (OpenCV's imread as RGB)
The reference is OpenCV 4.6's cv2.imread(IMREAD_COLOR); Pillow's Image.convert("RGB") is checked
to agree with it when python3-pil is installed (face-api in the browser reads what both read:
gamma and chromaticity chunks ignored, 16-bit samples by their high byte, alpha dropped)."""
import os
import subprocess
import sys

import cv2
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
tagged = "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709"
variants = {
    # gAMA + cHRM chunks: what `ffmpeg -i clip.mp4 frame%d.png` writes for a tagged video
    "ffmpeg_gama_chrm": ("rgb24", tagged),
    "palette": ("pal8", "split[a][b];[a]palettegen=max_colors=64[p];[b][p]paletteuse"),
    "rgba_alpha": ("rgba", "geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='X*4'"),
    "gray16": ("gray16be", tagged),
    "gray_alpha": ("ya8", "format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='255-X*3'"),
}
for name, (pix_fmt, vf) in variants.items():
    path = os.path.join(out, name + ".png")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x48:d=0.04", "-frames:v", "1",
                    "-vf", vf, "-pix_fmt", pix_fmt, path], check=True)
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    try:
        from PIL import Image
        pil = np.asarray(Image.open(path).convert("RGB"))
        if name not in ("gray16",):  # PIL reads 16-bit grey as 32-bit integers and clips them
            diff = np.abs(pil.astype(int) - rgb.astype(int)).max()
            if diff:
                sys.exit(f"{name}: Pillow and OpenCV disagree by {diff} levels")
    except ImportError:
        pass
    rgb.tofile(os.path.join(out, name + ".rgb"))
    print(name, rgb.shape)

# 16-bit RGB with every low byte in use (ffmpeg's conversions repeat the high byte, which would
# not tell rounding from truncation): written by OpenCV, read back by both.
rng = np.random.default_rng(7)
deep = rng.integers(0, 65536, size=(48, 64, 3), dtype=np.uint16)
path = os.path.join(out, "rgb48_16bit.png")
cv2.imwrite(path, deep)
rgb = np.ascontiguousarray(cv2.imread(path, cv2.IMREAD_COLOR)[:, :, ::-1])
assert (rgb == (deep[:, :, ::-1] >> 8)).all(), "OpenCV no longer keeps the high byte"
try:
    from PIL import Image
    assert (np.asarray(Image.open(path).convert("RGB")) == rgb).all(), "Pillow and OpenCV disagree on 16-bit"
except ImportError:
    pass
rgb.tofile(os.path.join(out, "rgb48_16bit.rgb"))
print("rgb48_16bit", rgb.shape)
