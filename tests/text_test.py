#!/usr/bin/python3
"""Names in any script on frames (issue 26): an Arabic, a Hebrew, a Devanagari and a CJK name
drawn by libfaceid (fid_image_draw_text) against the same font laid out by an independent
shaper, Pillow with libraqm (HarfBuzz + FriBidi behind it), and against Pillow's basic layout
(each character's own glyph, left to right: what faceid drew before). Ink is compared after
cropping to its bounding box: the shaped rendering must match raqm's, and for the scripts that
need shaping match it clearly better than the unshaped one.
  FID_LIBRARY=build/libfaceid.so.0 text_test.py"""
import ctypes
import os
import subprocess
import sys

import numpy as np
from PIL import Image, ImageFont, features

lib = ctypes.CDLL(os.environ.get("FID_LIBRARY", "libfaceid.so.0"))
lib.fid_image_from_rgb.restype = ctypes.c_void_p
lib.fid_image_from_rgb.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
lib.fid_image_draw_text.restype = ctypes.c_int
lib.fid_image_draw_text.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                    ctypes.c_uint32, ctypes.c_uint32]
lib.fid_image_rgb.restype = ctypes.POINTER(ctypes.c_uint8)
lib.fid_image_rgb.argtypes = [ctypes.c_void_p]
lib.fid_image_free.argtypes = [ctypes.c_void_p]
lib.fid_last_error.restype = ctypes.c_char_p

if not features.check("raqm"):
    print("skip: Pillow has no libraqm here: nothing independent to compare the shaping with")
    sys.exit(77)

W, H, PX = 900, 120, 48
# name, needs shaping (joining, reordering or conjuncts)
NAMES = [("محمد عبدالله", True),   # Arabic: joined letters, right to left
         ("שלום אברהם", True),     # Hebrew: right to left
         ("प्रिया शर्मा", True),      # Devanagari: conjuncts, the i-sign before its consonant
         ("程维 王小明", False),    # CJK: one glyph per character, left to right
         ("Ahmed (أحمد) 2", True)]  # a Latin name with an Arabic part: both directions on one line
passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    passed += bool(ok)
    failed += not ok
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else f": {detail}"))


def font_for(text):
    """The file fontconfig gives faceid for this text (family sans-serif, every character covered)."""
    cs = " ".join("%x" % ord(c) for c in sorted(set(text)) if not c.isspace())
    out = subprocess.run(["fc-match", "-f", "%{file}\n%{index}", f"sans-serif:charset={cs}"], capture_output=True,
                         text=True, check=True).stdout.split("\n")
    return out[0], int(out[1] or 0)


def faceid_ink(text):
    white = (ctypes.c_uint8 * (W * H * 3))(*([255] * (W * H * 3)))
    im = lib.fid_image_from_rgb(W, H, white, W * 3, None)
    rc = lib.fid_image_draw_text(im, 0, 0, text.encode(), PX, 0x000000, 0xffffff)
    assert rc == 0, lib.fid_last_error()
    rgb = np.ctypeslib.as_array(lib.fid_image_rgb(im), shape=(H, W, 3)).copy()
    lib.fid_image_free(im)
    return 255 - rgb.mean(axis=2)


def pillow_ink(text, path, index, engine):
    font = ImageFont.truetype(path, PX, index=index, layout_engine=engine)
    im = Image.new("L", (W, H), 255)
    from PIL import ImageDraw
    ImageDraw.Draw(im).text((12, 6), text, font=font, fill=0)
    return 255 - np.asarray(im, dtype=np.float64)


def crop(ink):
    ys, xs = np.nonzero(ink > 96)
    return (ink > 96)[ys.min():ys.max() + 1, xs.min():xs.max() + 1] if len(xs) else np.zeros((1, 1), bool)


def iou(a, b):
    """Overlap of two ink masks placed at their top-left corners (a shaped rendering differs
    from another by rounding only: the glyphs are the same outlines at the same places)."""
    h, w = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])
    pa, pb = np.zeros((h, w), bool), np.zeros((h, w), bool)
    pa[:a.shape[0], :a.shape[1]], pb[:b.shape[0], :b.shape[1]] = a, b
    best = 0
    for dy in (-1, 0, 1):  # a pixel of rounding either way
        for dx in (-1, 0, 1):
            s = np.roll(np.roll(pb, dy, 0), dx, 1)
            best = max(best, (pa & s).sum() / max(1, (pa | s).sum()))
    return best


def covered(text):
    """Whether any installed font has every character (scripts/setup installs one per script)."""
    cs = " ".join("%x" % ord(c) for c in sorted(set(text)) if not c.isspace())
    return bool(subprocess.run(["fc-list", f":charset={cs}", "file"], capture_output=True, text=True).stdout.strip())


for name, shaped in NAMES:
    if not covered(name):
        print(f"skip: no font here has every character of {name} (scripts/setup installs one)")
        continue
    path, index = font_for(name)
    ours = crop(faceid_ink(name))
    raqm = crop(pillow_ink(name, path, index, ImageFont.Layout.RAQM))
    basic = crop(pillow_ink(name, path, index, ImageFont.Layout.BASIC))
    a, b = iou(ours, raqm), iou(ours, basic)
    font = os.path.basename(path)
    print(f"{name}: {font}, overlap with raqm {a:.3f}, with the unshaped layout {b:.3f}")
    check(f"{name} ({font}) is laid out as HarfBuzz/FriBidi lay it out", a > 0.8, f"{a:.3f}")
    if shaped:
        check(f"... and not glyph by glyph, left to right", a > b + 0.1, f"{a:.3f} vs {b:.3f}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
