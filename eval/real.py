"""make eval, part "real": identification and detection on real photos no composite was made of, each
table with face-api's own pipeline beside it (SSD-MobileNet-v1 + 128-d, matched at its documented
0.6, run in node by eval/faceapi_anchor.js), and how much a descriptor depends on the detector.
  - dlib/johns: 55 photos of 5 men. All pairs (TAR/FAR); the first photo of each as the gallery.
  - bbt: 8 people x 5 crops; one photo each as the gallery, every choice of photo.
  - strangers: the 22 faces of face-api's sample photos against those galleries.
  - dlib/faces: annotated face boxes (detection recall, box overlap).
  - invariance: the same faces from face-api's SSD box, BlazeFace and a crop of the photo.
faceid runs through its Python binding over the build's libfaceid (the CLI's defaults)."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import cv2
import numpy as np

from synth import iou

ANCHOR_THRESHOLD = 0.6  # face-api's FaceMatcher default


def binding(faceid_cli):
    build = os.path.dirname(os.path.abspath(faceid_cli))
    os.environ.setdefault("FID_LIBRARY", os.path.join(build, "libfaceid.so.0"))
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    import faceid
    return faceid


def anchor(items, model_dir, work):
    """face-api's faces ({box, descriptor}) per key, or None when node or the peers are missing."""
    peers = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".cache", "peers", "node_modules")
    if not os.path.isdir(os.path.join(peers, "@vladmandic", "face-api")):
        print("anchor: face-api's pipeline skipped (make setup-peers installs it)")
        return None
    raw = os.path.join(work, "anchor")
    os.makedirs(raw, exist_ok=True)
    index = []
    for k, (key, path) in enumerate(items):
        im = cv2.imread(path, cv2.IMREAD_COLOR)
        p = os.path.join(raw, f"{k}.rgb")
        np.ascontiguousarray(im[:, :, ::-1]).astype(np.uint8).tofile(p)
        index.append({"key": key, "raw": p, "width": im.shape[1], "height": im.shape[0]})
    with open(os.path.join(raw, "index.json"), "w") as f:
        json.dump(index, f)
    out = os.path.join(raw, "faces.jsonl")
    env = dict(os.environ, NODE_PATH=peers)
    subprocess.run(["node", os.path.join(os.path.dirname(os.path.abspath(__file__)), "faceapi_anchor.js"), model_dir,
                    os.path.join(raw, "index.json"), out], check=True, env=env)
    res = {}
    for line in open(out):
        r = json.loads(line)
        res[r["key"]] = [{"box": f["box"], "descriptor": np.array(f["descriptor"], dtype=np.float32)}
                         for f in r["faces"]]
    return res


def largest(faces):
    return max(faces, key=lambda f: f["box"][2] * f["box"][3]) if faces else None


def anchor_name(gallery, d):
    """face-api's FaceMatcher: the nearest labelled descriptor, "unknown" at 0.6 or beyond."""
    best, name = float("inf"), "?"
    for n, g in gallery.items():
        x = float(np.linalg.norm(g - d))
        if x < best:
            best, name = x, n
    return name if best < ANCHOR_THRESHOLD else "?"


def one_photo(fid, photos, gallery_of, strangers, work, tag, anchors):
    """Gallery: one photo per person (gallery_of[person] = path); every other photo probes.
    Returns (faceid, anchor) counts: right, wrong, unknown, strangers named, strangers."""
    people = sorted(photos)
    db = os.path.join(work, f"{tag}.db")
    for ext in ("", "-wal", "-shm"):
        if os.path.exists(db + ext):
            os.remove(db + ext)
    ours = {"right": 0, "wrong": 0, "unknown": 0, "strangers_named": 0, "strangers": 0, "not_enrolled": 0}
    theirs = dict(ours)
    with fid.Gallery(db) as g:
        for p in people:
            try:
                g.enroll(p, [fid.load_image(gallery_of[p])])
            except fid.Error:
                ours["not_enrolled"] += 1
        ag = {}
        for p in people:
            f = largest(anchors.get(gallery_of[p], [])) if anchors is not None else None
            if f is not None:
                ag[p] = f["descriptor"]
            elif anchors is not None:
                theirs["not_enrolled"] += 1
        for p in people:
            for path in photos[p]:
                if path == gallery_of[p]:
                    continue
                faces = g.identify(fid.load_image(path))
                f = max(faces, key=lambda x: x.box.width * x.box.height) if faces else None
                n = f.name if f else "?"
                ours["right" if n == p else "unknown" if n == "?" else "wrong"] += 1
                if anchors is not None:
                    a = largest(anchors.get(path, []))
                    n = anchor_name(ag, a["descriptor"]) if a is not None else "?"
                    theirs["right" if n == p else "unknown" if n == "?" else "wrong"] += 1
        for path in strangers:
            for f in g.identify(fid.load_image(path)):
                if f.box.height < 40:
                    continue
                ours["strangers"] += 1
                ours["strangers_named"] += f.name != "?"
            if anchors is not None:
                for a in anchors.get(path, []):
                    if a["box"][3] < 40:
                        continue
                    theirs["strangers"] += 1
                    theirs["strangers_named"] += anchor_name(ag, a["descriptor"]) != "?"
    return ours, (theirs if anchors is not None else None)


def add(a, b):
    return {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}


def cell(c):
    if c is None:
        return "—"
    return (f"{c['right']} / {c['wrong']} / {c['unknown']}"
            + (f" ({c['not_enrolled']} not enrolled)" if c.get("not_enrolled") else ""))


def pairs(descs, threshold):
    """All pairs of labelled descriptors: TAR, FAR at threshold, counts, closest impostor."""
    items = [(p, d) for p, d in descs if d is not None]
    gen, imp = [], []
    for i in range(len(items)):
        for j in range(i):
            x = float(np.linalg.norm(items[i][1] - items[j][1]))
            (gen if items[i][0] == items[j][0] else imp).append(x)
    gen, imp = np.array(gen), np.array(imp)
    return {"genuine": len(gen), "impostor": len(imp), "tar": float(np.mean(gen < threshold)) if len(gen) else None,
            "far": float(np.mean(imp < threshold)) if len(imp) else None,
            "closest_impostor": float(imp.min()) if len(imp) else None}


def detection(fid, shared):
    """Recall of dlib/faces' annotated boxes (IoU > 0.3: the tools frame faces differently) and the
    median IoU of the found ones, per detector."""
    truth = {}
    for x in glob.glob(os.path.join(shared, "dlib", "faces", "*.xml")):
        for im in ET.parse(x).getroot().iter("image"):
            f = os.path.join(shared, "dlib", "faces", im.get("file"))
            truth.setdefault(f, []).extend([float(b.get("left")), float(b.get("top")), float(b.get("width")),
                                            float(b.get("height"))] for b in im.iter("box"))
    rows = []
    for name, kind, tile in (("faceid default (BlazeFace, tiles)", "blazeface", None), ("SSD, whole image (face-api)",
                                                                                        "ssd", 0)):
        det = fid.Detector(kind, tile_face=tile)
        hit, n, ious, extra = 0, 0, [], 0
        for f, boxes in truth.items():
            found = [d.box for d in det.detect(fid.load_image(f))]
            fb = [(b.x, b.y, b.width, b.height) for b in found]
            used = set()
            for t in boxes:
                n += 1
                best = max(range(len(fb)), key=lambda j: iou(t, fb[j]), default=None)
                if best is not None and iou(t, fb[best]) > 0.3 and best not in used:
                    used.add(best)
                    hit += 1
                    ious.append(iou(t, fb[best]))
            extra += len(fb) - len(used)
        rows.append({"detector": name, "found": hit, "faces": n, "median_iou": float(np.median(ious)) if ious else None,
                     "unannotated": extra})
    return rows


def invariance(fid, files):
    """Distance between the descriptor of each face from face-api's SSD box and from BlazeFace's
    detection (box and keypoints) and from BlazeFace in a crop of 1.6x the face: with the default
    alignment and with face-api's (landmarks from the detector's box)."""
    ssd = fid.Detector("ssd", tile_face=0)
    blaze = fid.Detector("blazeface")
    ours = fid.Embedder(precision="fp32")
    theirs = fid.Embedder(precision="fp32", alignment="detector")
    out = {"default": {"blazeface": [], "crop": []}, "face-api's": {"blazeface": [], "crop": []}, "unsettled": 0}
    for path in files:
        im = fid.load_image(path)
        B = blaze.detect(im)
        for s in ssd.detect(im):
            if s.box.height < 24:
                continue
            sb = (s.box.x, s.box.y, s.box.width, s.box.height)
            m = max(B, key=lambda d: iou(sb, (d.box.x, d.box.y, d.box.width, d.box.height)), default=None)
            if m is None or iou(sb, (m.box.x, m.box.y, m.box.width, m.box.height)) < 0.3:
                continue
            side = int(max(s.box.width, s.box.height) * 1.6)
            x0, y0 = int(s.box.x + s.box.width / 2 - side / 2), int(s.box.y + s.box.height / 2 - side / 2)
            crop = np.ascontiguousarray(im[max(y0, 0):y0 + side, max(x0, 0):x0 + side])
            C = blaze.detect(crop) if crop.shape[0] >= 16 and crop.shape[1] >= 16 else []
            c = max(C, key=lambda d: d.box.width * d.box.height) if C else None
            for label, emb in (("default", ours), ("face-api's", theirs)):
                try:
                    ref = emb.embed(im, s)
                    out[label]["blazeface"].append(emb.distance(ref, emb.embed(im, m)))
                    if c is not None:
                        out[label]["crop"].append(emb.distance(ref, emb.embed(crop, c)))
                except fid.Error:
                    pass
    return out


def main_part(faceid_cli, work, shared, samples, model_dir):
    fid = binding(faceid_cli)
    os.makedirs(work, exist_ok=True)
    johns = {os.path.basename(d): sorted(glob.glob(os.path.join(d, "*.jpg")))
             for d in sorted(glob.glob(os.path.join(shared, "dlib", "johns", "*")))}
    bbt = {os.path.basename(d): sorted(glob.glob(os.path.join(d, "*.png")))
           for d in sorted(glob.glob(os.path.join(shared, "bbt", "*"))) if os.path.isdir(d)}
    strangers = sorted(glob.glob(os.path.join(samples, "*.jpg")))
    os.makedirs(os.path.join(work, "seed"), exist_ok=True)
    for clip in sorted(glob.glob(os.path.join(shared, "seed-videos", "*", "*"))):
        name = os.path.basename(os.path.dirname(clip))
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", clip, "-vf", r"select=not(mod(n\,12))", "-vsync",
                        "vfr", os.path.join(work, "seed", f"{name}-%03d.png")], check=False)
    seed = sorted(glob.glob(os.path.join(work, "seed", "*.png")))
    if not johns or not bbt:
        print("\n## Real photos: skipped (needs ../shared/data/dlib/johns and bbt)")
        return None
    all_files = [f for v in johns.values() for f in v] + [f for v in bbt.values() for f in v] + strangers
    anchors = anchor([(f, f) for f in all_files], model_dir, work)
    result = {}

    # johns: the first photo each as the gallery
    ours, theirs = one_photo(fid, johns, {p: v[0] for p, v in johns.items()}, strangers, work, "johns", anchors)
    # all pairs, largest face of each photo
    emb, det = fid.Embedder(), fid.Detector()
    with fid.Gallery(os.path.join(tempfile.mkdtemp(dir=work), "t.db")) as g:
        threshold = g.match(np.zeros(emb.dim, dtype=np.float32)).threshold
    descs = []
    for p, v in johns.items():
        for f in v:
            im = fid.load_image(f)
            ds = det.detect(im)
            d = max(ds, key=lambda x: x.box.width * x.box.height) if ds else None
            descs.append((p, emb.embed(im, d) if d else None))
    pj = pairs(descs, threshold)
    pa = pairs([(p, (largest(anchors.get(f, [])) or {}).get("descriptor")) for p, v in johns.items() for f in v],
               ANCHOR_THRESHOLD) if anchors is not None else None
    result["johns"] = {"one_photo": {"faceid": ours, "faceapi": theirs}, "pairs": {"faceid": pj, "faceapi": pa},
                       "threshold": threshold}

    # bbt: one photo each, every choice of photo (5 galleries)
    tot_o, tot_a = {}, {} if anchors is not None else None
    for k in range(5):
        o, t = one_photo(fid, bbt, {p: v[k % len(v)] for p, v in bbt.items()}, strangers, work, f"bbt{k}", anchors)
        tot_o = add(tot_o, o)
        if t is not None:
            tot_a = add(tot_a, t)
        if k == 0:
            first = (o, t)
    result["bbt"] = {"photo1": {"faceid": first[0], "faceapi": first[1]}, "all5": {"faceid": tot_o, "faceapi": tot_a}}

    print(f"\n## Real photos, one photo per person (default settings; face-api: SSD + 128-d at {ANCHOR_THRESHOLD}, "
          f"its own pipeline in node)")
    print(f"faceid's 1:N threshold: {threshold:.2f}. right / wrong / \"?\" of the probes; strangers: the "
          f"sample photos' faces (40 px and more) named")
    print("| gallery | probes | faceid | face-api | strangers named: faceid | face-api |")
    print("| --- | --- | --- | --- | --- | --- |")

    def row(label, o, t):
        probes = o["right"] + o["wrong"] + o["unknown"]
        print(f"| {label} | {probes} | {cell(o)} | {cell(t)} | {o['strangers_named']}/{o['strangers']} | "
              f"{(str(t['strangers_named']) + '/' + str(t['strangers'])) if t else '—'} |")
    row("dlib/johns, first photo of each (5 men)", ours, theirs)
    row("bbt, photo 1 of each (8 people)", *first)
    row("bbt, each of the 5 photos in turn (5 galleries)", tot_o, tot_a)
    print("\n### dlib/johns, every pair (largest face of each photo)")
    print("| pipeline | threshold | genuine pairs | TAR | impostor pairs | FAR | closest impostor |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r, t in (("faceid", pj, threshold), ("face-api", pa, ANCHOR_THRESHOLD)):
        if r:
            print(f"| {name} | {t:.2f} | {r['genuine']} | {100 * r['tar']:.1f}% | {r['impostor']} | "
                  f"{100 * r['far']:.2f}% | {r['closest_impostor']:.3f} |")

    rows = detection(fid, shared)
    result["detection"] = rows
    print("\n### Detection on dlib/faces (PASCAL VOC scenes, annotated boxes)")
    print("| detector | found (IoU > 0.3) | median IoU with the annotation | detections without an annotation |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['detector']} | {r['found']}/{r['faces']} | {r['median_iou']:.2f} | {r['unannotated']} |")

    inv_files = all_files + sorted(glob.glob(os.path.join(shared, "dlib", "faces", "*.jpg"))) + \
        sorted(glob.glob(os.path.join(shared, "bbt", "*.jpg"))) + seed
    inv = invariance(fid, inv_files)
    result["invariance"] = {k: v for k, v in inv.items()}
    print("\n### The same face from another detector (distance to the descriptor from face-api's SSD box)")
    print("every face SSD finds (24 px and more) in bbt, dlib/johns, dlib/faces, the sample photos and frames of "
          "the seed clips, found again by BlazeFace in the photo and in a crop of 1.6x the face")
    print("| alignment | path | faces | median | 90th pct. | max |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label in ("default", "face-api's"):
        for path in ("blazeface", "crop"):
            v = np.array(inv[label][path])
            if len(v):
                print(f"| {label} | {path} | {len(v)} | {np.median(v):.3f} | {np.percentile(v, 90):.3f} | "
                      f"{v.max():.3f} |")
    return result
