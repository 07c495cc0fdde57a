#!/usr/bin/python3
"""Face material for `make eval` and the tests, made from data a user can get (never committed):
labelled face crops (../shared/data/bbt: 8 people x 5), the original demo's clips (two people),
and face-api's sample photos (22 faces of unknown identity: strangers).

Every face becomes a *patch*: an image around the face and the face's box in it. The box is the
one face-api's SSD finds when the face is large and alone (the crop padded by a grey border):
that is the reference the detectors' recall is measured against, placed at a known size.
Patches are composited into 1080p scenes at chosen sizes and degraded (blur, noise, JPEG, dim)."""
import glob
import json
import os
import subprocess

import cv2
import numpy as np


def detect(faceid, paths, detector="ssd", extra=()):
    """faceid detect --json over paths -> per path a list of (box, score[, keypoints])."""
    out = []
    for i in range(0, len(paths), 200):
        r = subprocess.run([faceid, "detect", "--json", "--detector", detector, *extra, *paths[i:i + 200]],
                           capture_output=True, text=True)
        if r.returncode not in (0, 1):
            raise RuntimeError(r.stderr.strip())
        for im in json.loads(r.stdout)["files"]:
            out.append([(f["box"], f["score"], f.get("keypoints")) if "keypoints" in f else (f["box"], f["score"])
                        for f in im["faces"]])
    return out


def largest(faces):
    return max(faces, key=lambda f: f[0][2] * f[0][3])[0] if faces else None


SEED_FRAMES = 40


def sample_photos(faceid, samples):
    """face-api's sample photos with their faces as face-api's SSD finds them: [(path, faces)]."""
    paths = sorted(glob.glob(os.path.join(samples, "*.jpg")))
    return list(zip(paths, detect(faceid, paths, "ssd", ("--tile-face", "0"))))


def patches(faceid, shared, photos, work):
    """[(identity or None, source name, patch BGR image, box [x, y, w, h] in the patch)];
    photos: sample_photos(), whose faces are the strangers."""
    os.makedirs(work, exist_ok=True)
    items = []  # (identity, name, image)
    bbt = os.path.join(shared, "bbt")
    for person in sorted(os.listdir(bbt)) if os.path.isdir(bbt) else []:
        for f in sorted(glob.glob(os.path.join(bbt, person, "*.png"))):
            items.append((person, os.path.basename(f), cv2.imread(f)))
    seeds = os.path.join(shared, "seed-videos")
    for person in sorted(os.listdir(seeds)) if os.path.isdir(seeds) else []:
        for clip in sorted(glob.glob(os.path.join(seeds, person, "*"))):
            cap = cv2.VideoCapture(clip)
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            for k in range(SEED_FRAMES):  # in time order: the first half enrolls, the second probes
                cap.set(cv2.CAP_PROP_POS_FRAMES, int((k + 0.5) * n / SEED_FRAMES))
                ok, frame = cap.read()
                if ok:
                    items.append((person, f"{os.path.basename(clip)}#{k}", frame))
    # one source image per face: pad each item so the face is large and alone, find it with SSD
    padded = []
    for i, (who, name, im) in enumerate(items):
        h, w = im.shape[:2]
        pad = max(h, w) // 3
        big = cv2.copyMakeBorder(im, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
        p = os.path.join(work, f"pad{i}.png")
        cv2.imwrite(p, big)
        padded.append((p, pad))
    out = []
    found = detect(faceid, [p for p, _ in padded], extra=("--tile-face", "0"))
    for (who, name, im), (p, pad), faces in zip(items, padded, found):
        box = largest(faces)
        if box is None:
            continue
        big = cv2.imread(p)
        out.append((who, name) + cut(big, box))
    for p, faces in photos:
        im = cv2.imread(p)
        for k, (box, score, *_) in enumerate(faces):
            out.append((None, f"{os.path.basename(p)}#{k}") + cut(im, box))
    return out


def cut(im, box):
    """A square patch around box (1.8x its size, grey outside the image) and the box in it."""
    x, y, w, h = box
    side = int(max(w, h) * 1.8)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(cx - side / 2), int(cy - side / 2)
    H, W = im.shape[:2]
    patch = np.full((side, side, 3), 128, np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, W), min(y0 + side, H)
    patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = im[sy0:sy1, sx0:sx1]
    return patch, [x - x0, y - y0, w, h]


def background(rng, w=1920, h=1080):
    """A cluttered scene without faces: smooth colour fields, boxes and lines, sensor noise."""
    base = rng.uniform(40, 200, (h // 60 + 2, w // 60 + 2, 3)).astype(np.float32)
    im = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(60):
        x, y = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        bw, bh = int(rng.uniform(20, 400)), int(rng.uniform(20, 400))
        cv2.rectangle(im, (x, y), (x + bw, y + bh), tuple(float(c) for c in rng.uniform(0, 255, 3)), -1)
    for _ in range(40):
        p = tuple(int(v) for v in rng.uniform(0, w, 2)), tuple(int(v) for v in rng.uniform(0, h, 2))
        cv2.line(im, (p[0][0], p[1][0]), (p[0][1], p[1][1]), tuple(float(c) for c in rng.uniform(0, 255, 3)), 3)
    im = cv2.GaussianBlur(im, (0, 0), 1.2)
    return np.clip(im + rng.normal(0, 3, im.shape), 0, 255).astype(np.uint8)


def paste(scene, patch, box, height, x, y):
    """Pastes patch scaled so that the face box is `height` px tall, its box's top-left at (x, y).
    Returns the face box in the scene. Feathered edges, no hard rectangle."""
    s = height / box[3]
    side = max(2, int(round(patch.shape[0] * s)))
    small = cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    ox, oy = int(round(x - box[0] * s)), int(round(y - box[1] * s))
    H, W = scene.shape[:2]
    mask = np.zeros((side, side), np.float32)
    r = side / 2
    cv2.ellipse(mask, (side // 2, side // 2), (int(r * 0.9), int(r * 0.95)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, side * 0.04))[..., None]
    x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + side, W), min(oy + side, H)
    if x1 <= x0 or y1 <= y0:
        return None
    region = scene[y0:y1, x0:x1].astype(np.float32)
    m = mask[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    p = small[y0 - oy:y1 - oy, x0 - ox:x1 - ox].astype(np.float32)
    scene[y0:y1, x0:x1] = (p * m + region * (1 - m)).astype(np.uint8)
    return [ox + box[0] * s, oy + box[1] * s, box[2] * s, box[3] * s]


DEGRADATIONS = ("clean", "blur", "noise", "jpeg", "dim")


def degrade(im, kind, rng):
    if kind == "blur":
        return cv2.GaussianBlur(im, (0, 0), 1.2)
    if kind == "noise":
        return np.clip(im.astype(np.float32) + rng.normal(0, 10, im.shape), 0, 255).astype(np.uint8)
    if kind == "jpeg":
        ok, enc = cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 35])
        return cv2.imdecode(enc, cv2.IMREAD_COLOR)
    if kind == "dim":  # a dark room: a third of the light, then the sensor's noise
        dark = im.astype(np.float32) * 0.3
        return np.clip(dark + rng.normal(0, 3, im.shape), 0, 255).astype(np.uint8)
    return im


def photo_background(rng, photos, w=1920, h=1080):
    """A real scene: one of the sample photos (cropped to 16:9), with its own faces as truth
    (face-api's SSD on the full photo): clutter where a detector can go wrong."""
    path, faces = photos[int(rng.integers(len(photos)))]
    im = cv2.imread(path)
    H, W = im.shape[:2]
    ch = min(H, int(W * h / w))
    y0 = int(rng.integers(0, H - ch + 1))
    s = w / W
    im = cv2.resize(im[y0:y0 + ch], (w, h), interpolation=cv2.INTER_AREA)
    truth = []
    for (x, y, bw, bh), _ in faces:
        b = [x * s, (y - y0) * s, bw * s, bh * s]
        if b[1] >= 0 and b[1] + b[3] <= h:
            truth.append({"identity": None, "source": os.path.basename(path) + "#own", "box": [round(v, 1) for v in b]})
    return im, truth


def scene(rng, faces, heights, w=1920, h=1080, photos=None):
    """A scene with faces (patch tuples) at the given face heights, not overlapping; on a sample
    photo when `photos` ([(path, faces)]) is given, else on a synthetic background."""
    if photos:
        im, truth = photo_background(rng, photos, w, h)
    else:
        im, truth = background(rng, w, h), []
    placed = [(t["box"][0] - t["box"][3] * 0.5, t["box"][1] - t["box"][3] * 0.5, t["box"][2] + t["box"][3],
               t["box"][3] * 2) for t in truth]
    for (who, name, patch, box), fh in zip(faces, heights):
        fw = fh * box[2] / box[3]
        for _ in range(50):
            x, y = rng.uniform(fh, w - fw - fh), rng.uniform(fh, h - 2 * fh)
            r = (x - fh * 0.5, y - fh * 0.5, fw + fh, fh * 2)
            if all(r[0] + r[2] < q[0] or q[0] + q[2] < r[0] or r[1] + r[3] < q[1] or q[1] + q[3] < r[1]
                   for q in placed):
                break
        else:
            continue
        b = paste(im, patch, box, fh, x, y)
        if b:
            placed.append(r)
            truth.append({"identity": who, "source": name, "box": [round(v, 1) for v in b]})
    return im, truth


def iou(a, b):
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def match(truth, found, min_iou=0.3):
    """Greedy matching by IoU: for each truth box, the index of its detection or -1."""
    pairs = sorted(((iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)), reverse=True)
    got, used = [-1] * len(truth), set()
    for v, i, j in pairs:
        if v < min_iou:
            break
        if got[i] < 0 and j not in used:
            got[i] = j
            used.add(j)
    return got
