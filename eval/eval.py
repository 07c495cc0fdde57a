#!/usr/bin/python3
"""make eval: faceid's quality on real faces made harder (README "Evaluation" explains each part).
    eval.py FACEID WORK_DIR SHARED_DATA SAMPLES_DIR [--quick] [--part detect,enroll,match,live]
Prints one table per part, and the whole as JSON in WORK_DIR/eval.json."""
import argparse
import glob
import json
import math
import os
import platform
import subprocess
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synth  # noqa: E402

BANDS = [(24, 32), (32, 48), (48, 64), (64, 96), (96, 160), (160, 400)]


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def band_of(h):
    for lo, hi in BANDS:
        if lo <= h < hi:
            return f"{lo}-{hi}"
    return None


def part_detect(a, faces, rng, configs, photos):
    """Detection recall per face-height band against the composited truth, and time per frame."""
    d = os.path.join(a.work, "detect")
    os.makedirs(d, exist_ok=True)
    frames, truth = [], []
    n_frames = 8 if a.quick else 30
    for k in range(n_frames):
        pick = [faces[int(i)] for i in rng.choice(len(faces), 10, replace=False)]
        heights = np.exp(rng.uniform(math.log(24), math.log(200), len(pick)))
        im, t = synth.scene(rng, pick, heights, photos=photos if k % 2 else None)
        kind = synth.DEGRADATIONS[k % len(synth.DEGRADATIONS)]
        im = synth.degrade(im, kind, rng)
        p = os.path.join(d, f"scene{k:03d}.png")
        cv2.imwrite(p, im)
        frames.append(p)
        truth.append(t)
    with open(os.path.join(d, "truth.json"), "w") as f:
        json.dump(truth, f)
    rows = []
    for name, det, extra in configs:
        t0 = time.monotonic()
        found = synth.detect(a.faceid, frames, det, ("--threads", "2", *extra))
        ms = (time.monotonic() - t0) * 1000 / len(frames)
        hit, total, false_pos, tp_scores, fp_scores = {}, {}, 0, [], []
        for t, f in zip(truth, found):
            got = synth.match([x["box"] for x in t], [x[0] for x in f])
            false_pos += len(f) - sum(1 for g in got if g >= 0)
            tp_scores += [f[g][1] for g in got if g >= 0]
            fp_scores += [f[j][1] for j in range(len(f)) if j not in got]
            for x, g in zip(t, got):
                b = band_of(x["box"][3])
                total[b] = total.get(b, 0) + 1
                hit[b] = hit.get(b, 0) + (g >= 0)
        rec = {b: (hit.get(b, 0), total.get(b, 0)) for b in total}
        all_hit = sum(v[0] for v in rec.values())
        all_n = sum(v[1] for v in rec.values())
        rows.append({"config": name, "bands": rec, "recall": all_hit / max(all_n, 1), "false_positives": false_pos,
                     "ms_per_frame": ms, "tp_scores": sorted(tp_scores), "fp_scores": sorted(fp_scores)})
    print(f"\n## Detection recall by face height (px) on {len(frames)} 1920x1080 scenes (half on the sample photos), "
          f"{sum(len(t) for t in truth)} faces (clean, blur, noise, JPEG q35, dim)")
    print("reference: where each face was composited, its box as face-api's SSD finds it alone at full size")
    bands = [f"{lo}-{hi}" for lo, hi in BANDS]
    print("| detector | " + " | ".join(bands) + " | all | false pos. | ms/frame (CLI, 2 thr) |")
    print("|" + " --- |" * (len(bands) + 4))
    for r in rows:
        cells = []
        for b in bands:
            h, n = r["bands"].get(b, (0, 0))
            cells.append(f"{100 * h / n:.0f}% ({h}/{n})" if n else "–")
        print(f"| {r['config']} | " + " | ".join(cells) + f" | {100 * r['recall']:.1f}% | {r['false_positives']} | "
              f"{r['ms_per_frame']:.0f} |")
    return rows


def enroll_dir(faceid, root, gallery, extra=()):
    """faceid enroll-dir over root/<name>/<file>: {name: samples enrolled}."""
    if os.path.exists(gallery):
        os.remove(gallery)
    r = subprocess.run([faceid, "enroll-dir", root, "--gallery", gallery, "--json", *extra], capture_output=True,
                       text=True)
    try:
        people = json.loads(r.stdout)["people"]
    except (ValueError, KeyError):
        raise RuntimeError(f"enroll-dir {root}: {r.stderr.strip()[-300:]}")
    return {p["name"]: p["samples"] if p.get("enrolled") else 0 for p in people}, r.stderr


def part_enroll(a, faces, binaries):
    """Enrollment from one photo: face-filling crops, portraits, tight crops; group photos."""
    d = os.path.join(a.work, "enroll")
    sets = {}
    bbt = os.path.join(a.shared, "bbt")
    crops = sorted(glob.glob(os.path.join(bbt, "*", "*.png")))
    if crops:
        sets["bbt crops, 150x150, the face fills it"] = [(os.path.basename(c)[:-4], c) for c in crops]
    portraits, tight = [], []
    os.makedirs(os.path.join(d, "src"), exist_ok=True)
    for i, (who, name, patch, box) in enumerate(faces):
        x, y, w, h = box
        if who is None:  # a sample-photo face as a portrait (head and shoulders, ~424x394 as in the report)
            cx, cy, side = x + w / 2, y + h * 0.6, max(w, h) * 1.75
            x0, y0 = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
            crop = patch[y0:int(y0 + side), x0:int(x0 + side * 1.08)]
            p = os.path.join(d, "src", f"portrait{i}.jpg")
            cv2.imwrite(p, cv2.resize(crop, (424, 394), interpolation=cv2.INTER_AREA))
            portraits.append((f"portrait{i}", p))
        m = 0.1  # every face cut with a 10% margin: what other tools' crop exports look like
        crop = patch[int(max(y - m * h, 0)):int(y + h * (1 + m)), int(max(x - m * w, 0)):int(x + w * (1 + m))]
        p = os.path.join(d, "src", f"tight{i}.png")
        cv2.imwrite(p, crop)
        tight.append((f"tight{i}", p))
    sets["sample-photo portraits 424x394"] = portraits
    sets["face crops with a 10% margin"] = tight
    rows = []
    for label, items in sets.items():
        root = os.path.join(d, "people-" + str(len(rows)))
        if not os.path.isdir(root):
            for name, src in items:
                os.makedirs(os.path.join(root, name), exist_ok=True)
                dst = os.path.join(root, name, os.path.basename(src))
                if not os.path.exists(dst):
                    os.symlink(os.path.abspath(src), dst)
        row = {"set": label, "n": len(items)}
        for bname, b in binaries:
            got, _ = enroll_dir(b, root, os.path.join(d, "g.db"))
            row[bname] = sum(1 for v in got.values() if v > 0)
        rows.append(row)
    groups = sorted(glob.glob(os.path.join(bbt, "bbt*.jpg")))
    group_report = []
    for g in groups:
        root = os.path.join(d, "group", os.path.basename(g)[:-4])
        os.makedirs(os.path.join(root, "someone"), exist_ok=True)
        dst = os.path.join(root, "someone", os.path.basename(g))
        if not os.path.exists(dst):
            os.symlink(os.path.abspath(g), dst)
        got, err = enroll_dir(binaries[-1][1], root, os.path.join(d, "g.db"))
        group_report.append((os.path.basename(g), got.get("someone", 0), "several faces" in err))
    print("\n## Enrollment from a single photo (enroll-dir, one person per photo)")
    print("| photos | " + " | ".join(b for b, _ in binaries) + " |")
    print("|" + " --- |" * (len(binaries) + 1))
    for r in rows:
        print(f"| {r['set']} ({r['n']}) | " + " | ".join(f"{r[b]}/{r['n']}" for b, _ in binaries) + " |")
    if group_report:
        print("group photos given as one person's photo: " + ", ".join(
            f"{n}: {k} sample{'s' if k != 1 else ''}{', reported several faces' if rep else ''}"
            for n, k, rep in group_report))
    return {"sets": rows, "groups": group_report}


DEFAULT_THRESHOLD = 0.55  # faceapi-128's 1:N default (src/face/profiles.c)
CONDITIONS = ("clean", "small40", "small24", "blur", "noise", "jpeg", "dim")


def probe_image(patch, box, cond, rng):
    """A face as a probe under a condition: the whole patch (face at its size, with context),
    or shrunk so the face is 40 / 24 px tall, or degraded."""
    if cond.startswith("small"):
        target = int(cond[5:])
        s = target / box[3]
        side = max(8, int(patch.shape[0] * s))
        small = cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA)
        canvas = np.full((side * 3, side * 3, 3), 128, np.uint8)
        canvas[side:2 * side, side:2 * side] = small
        return canvas
    return synth.degrade(patch, cond, rng)


def embed_all(faceid, paths, extra=()):
    """Descriptor of the largest face of each image (None when no face)."""
    out = []
    for i in range(0, len(paths), 100):
        r = subprocess.run([faceid, "embed", "--json", "--all", *extra, *paths[i:i + 100]], capture_output=True,
                           text=True)
        docs = json.loads(r.stdout) if r.stdout.strip().startswith("{") else None
        files = docs["files"] if docs and "files" in docs else ([docs] if docs else [])
        by_file = {f["file"]: f for f in files}
        for p in paths[i:i + 100]:
            f = by_file.get(p)
            faces = f["faces"] if f else []
            best = max(faces, key=lambda x: x["box"][2] * x["box"][3]) if faces else None
            out.append(np.array(best["descriptor"], np.float32) if best else None)
    return out


def far_threshold(impostor, far):
    """The largest threshold whose false accept rate (share of impostor distances below it) is
    at most far."""
    imp = np.sort(np.asarray(impostor))
    k = int(math.floor(far * len(imp)))
    return float(imp[k]) if k < len(imp) else float("inf")


def part_match(a, faces, rng, extra=()):
    """TAR at FAR 1e-3 / 1e-2, per probe condition, for galleries of k samples per person."""
    d = os.path.join(a.work, "match")
    os.makedirs(d, exist_ok=True)
    paths, keys = [], []
    for i, (who, name, patch, box) in enumerate(faces):
        for cond in CONDITIONS:
            p = os.path.join(d, f"f{i}_{cond}.png")
            if not os.path.exists(p):
                cv2.imwrite(p, probe_image(patch, box, cond, rng))
            paths.append(p)
            keys.append((i, cond))
    t0 = time.monotonic()
    desc = dict(zip(keys, embed_all(a.faceid, paths, extra)))
    found = {cond: (sum(1 for (i, c), v in desc.items() if c == cond and v is not None), len(faces))
             for cond in CONDITIONS}
    people = {}
    for i, f in enumerate(faces):
        if f[0]:
            people.setdefault(f[0], []).append(i)
    strangers = [i for i, f in enumerate(faces) if f[0] is None]
    results = []
    for k in (1, 4, 20):
        # galleries: the first k clean faces of each person (a person needs k + 1 faces); the rest probe
        gal = {p: [desc[(i, "clean")] for i in ix[:k] if desc[(i, "clean")] is not None]
               for p, ix in people.items() if len(ix) > k}
        gal = {p: np.stack(v) for p, v in gal.items() if v}
        if len(gal) < 2:
            continue
        gen, imp = {c: [] for c in CONDITIONS}, {c: [] for c in CONDITIONS}
        rank1 = {c: [] for c in CONDITIONS}  # (distance to own, nearest other) per genuine probe
        for p, ix in people.items():
            if p not in gal:
                continue
            for i in ix[k:]:
                for c in CONDITIONS:
                    v = desc[(i, c)]
                    if v is None:
                        gen[c].append(float("inf"))
                        continue
                    dist = {q: float(np.min(np.linalg.norm(g - v, axis=1))) for q, g in gal.items()}
                    gen[c].append(dist[p])
                    others = [x for q, x in dist.items() if q != p]
                    imp[c] += others
                    rank1[c].append((dist[p], min(others)))
        for i in strangers:
            for c in CONDITIONS:
                v = desc[(i, c)]
                if v is not None:
                    imp[c] += [float(np.min(np.linalg.norm(g - v, axis=1))) for g in gal.values()]
        pooled = [x for c in CONDITIONS for x in imp[c]]
        th = {far: far_threshold(pooled, far) for far in (1e-3, 1e-2)}
        # and at the model's default 1:N threshold: what a user gets without calibrating
        th["default"] = DEFAULT_THRESHOLD
        row = {"k": k, "people": len(gal), "impostor_pairs": len(pooled), "thresholds": th, "conditions": {}}
        for c in CONDITIONS:
            g = np.array(gen[c])
            row["conditions"][c] = {
                "genuine": len(g),
                "tar": {str(far): float(np.mean([(d < t) and (o > d) for d, o in rank1[c]] +
                                                [False] * int(np.sum(~np.isfinite(g))))) if len(g) else None
                        for far, t in th.items()},
                "far": {str(far): float(np.mean(np.array(imp[c]) < t)) if imp[c] else None for far, t in th.items()},
                "genuine_median": float(np.median(g[np.isfinite(g)])) if np.isfinite(g).any() else None,
            }
        row["default_far"] = float(np.mean(np.array(pooled) < DEFAULT_THRESHOLD))
        row["genuine_all"] = sorted(x for c in CONDITIONS for x in gen[c] if math.isfinite(x))
        row["impostor_all"] = sorted(pooled)
        results.append(row)
    print(f"\n## Identification (1:N, nearest sample) on {len(people)} people and {len(strangers)} strangers, "
          f"faces described by the default pipeline ({time.monotonic() - t0:.0f} s)")
    print("faces found per probe condition: " + ", ".join(f"{c} {n}/{m}" for c, (n, m) in found.items()))
    print("TAR = named right (nearest person, below the threshold); thresholds at the pooled impostor FAR")
    print("| samples/person | people | impostor pairs | FAR | threshold | " + " | ".join(CONDITIONS) + " |")
    print("|" + " --- |" * (5 + len(CONDITIONS)))
    for r in results:
        for far, t in r["thresholds"].items():
            cells = []
            for c in CONDITIONS:
                x = r["conditions"][c]
                cells.append("–" if x["tar"][str(far)] is None else f"{100 * x['tar'][str(far)]:.0f}%")
            far_cell = f"{r['default_far']:.1e} (default)" if far == "default" else f"{far:g}"
            print(f"| {r['k']} | {r['people']} | {r['impostor_pairs']} | {far_cell} | {t:.3f} | " + " | ".join(cells) + " |")
    return results


def render_clip(path, rng, cast, photos, seconds, fps=30, degrade=None):
    """A 1920x1080 clip on a sample photo: each of `cast` ((identity, patch, box) tuples) walks
    across the frame growing from ~36 to ~110 px tall, as people walking toward a hallway camera.
    Returns the truth per frame: [{"identity", "box"}] (the photo's own faces are strangers)."""
    bg, own = synth.photo_background(rng, photos)
    n = int(seconds * fps)
    paths = []
    for who, patch, box in cast:
        x0, x1 = rng.uniform(100, 1700), rng.uniform(100, 1700)
        y0, y1 = rng.uniform(150, 500), rng.uniform(500, 850)
        h0, h1 = rng.uniform(32, 48), rng.uniform(80, 130)
        start = rng.uniform(0, 0.3) * n
        paths.append((who, patch, box, x0, x1, y0, y1, h0, h1, start))
    enc = subprocess.Popen(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", "1920x1080",
                            "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
                            "-pix_fmt", "yuv420p", path], stdin=subprocess.PIPE)
    truth = []
    for f in range(n):
        im = bg.copy()
        t = [dict(x) for x in own]
        for who, patch, box, x0, x1, y0, y1, h0, h1, start in paths:
            if f < start:
                continue
            u = min(1.0, (f - start) / (n - start))
            b = synth.paste(im, patch, box, h0 + (h1 - h0) * u, x0 + (x1 - x0) * u, y0 + (y1 - y0) * u)
            if b and b[0] >= 0 and b[1] >= 0 and b[0] + b[2] <= 1920 and b[1] + b[3] <= 1080:
                t.append({"identity": who, "box": b})
        if degrade:
            im = synth.degrade(im, degrade, rng)
        enc.stdin.write(im.tobytes())
        truth.append(t)
    enc.stdin.close()
    enc.wait()
    return truth


def part_live(a, faces, rng, photos):
    """faceid live on synthesized 1080p clips: people enrolled from one photo each, strangers."""
    d = os.path.join(a.work, "live")
    os.makedirs(d, exist_ok=True)
    by_person = {}
    for f in faces:
        if f[0] and f[1].endswith(".png"):  # the bbt crops: 5 photos per person
            by_person.setdefault(f[0], []).append(f)
    if len(by_person) < 4:
        print("\n## Live: skipped (needs the bbt crops)")
        return None
    people = os.path.join(d, "people")
    for p, fs in by_person.items():
        os.makedirs(os.path.join(people, p), exist_ok=True)
        cv2.imwrite(os.path.join(people, p, "photo.png"), fs[0][2])  # enrolled from one photo
    gallery = os.path.join(d, "gallery.db")
    enrolled, _ = enroll_dir(a.faceid, people, gallery)
    strangers = [f for f in faces if f[0] is None]
    rows = []
    names = sorted(by_person)
    for k, degrade in enumerate((None, "dim") if not a.quick else (None,)):
        clip = os.path.join(d, f"clip{k}.mp4")
        cast = []
        for p in rng.choice(names, 4, replace=False):
            f = by_person[p][1 + int(rng.integers(len(by_person[p]) - 1))]  # another photo than enrolled
            cast.append((p, f[2], f[3]))
        for i in rng.choice(len(strangers), 2, replace=False):
            cast.append((None, strangers[i][2], strangers[i][3]))
        truth = render_clip(clip, rng, cast, photos, 4 if a.quick else 8, degrade=degrade)
        with open(os.path.join(d, f"clip{k}.truth.json"), "w") as f:
            json.dump(truth, f)
        tracks = os.path.join(d, f"clip{k}.tracks.jsonl")
        r = subprocess.run([a.faceid, "live", "--source", clip, "--gallery", gallery, "--no-window", "--tracks",
                            tracks], capture_output=True, text=True)
        summary = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        frames = [json.loads(line) for line in open(tracks)] if os.path.exists(tracks) else []
        known = correct = unnamed = wrong = stranger_seen = stranger_named = 0
        for fr, t in zip(frames, truth):
            boxes = [x["box"] for x in fr["tracks"]]
            got = synth.match([x["box"] for x in t], boxes)
            for x, g in zip(t, got):
                if g < 0:
                    continue
                name = fr["tracks"][g]["name"]
                if x["identity"]:
                    known += 1
                    correct += name == x["identity"]
                    unnamed += name == "?"
                    wrong += name not in ("?", x["identity"])
                else:
                    stranger_seen += 1
                    stranger_named += name != "?"
        visible = sum(1 for t in truth for x in t if x["identity"])
        rows.append({"clip": f"clip{k} ({degrade or 'clean'})", "known_visible": visible, "known_detected": known,
                     "named_right": correct, "unnamed": unnamed, "named_wrong": wrong,
                     "stranger_frames": stranger_seen, "stranger_named": stranger_named, "summary": summary})
    print(f"\n## Live on synthesized 1080p clips (4 people enrolled from one photo each walking toward the "
          f"camera from ~40 to ~110 px, 2 strangers + the photo's own faces; {len(enrolled)} people in the gallery)")
    print("| clip | known: detected / visible | named right | \"?\" | wrong name | stranger frames | stranger named |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        k = max(r["known_detected"], 1)
        print(f"| {r['clip']} | {r['known_detected']}/{r['known_visible']} | {100 * r['named_right'] / k:.1f}% | "
              f"{100 * r['unnamed'] / k:.1f}% | {r['named_wrong']} | {r['stranger_frames']} | {r['stranger_named']} |")
    for r in rows:
        print(f"{r['clip']}: {r['summary']}")
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("faceid")
    ap.add_argument("work")
    ap.add_argument("shared")
    ap.add_argument("samples")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--part", default="detect,enroll,match,live,groups,real")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    print(f"# faceid eval — {cpu_name()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}")
    photos = synth.sample_photos(a.faceid, a.samples)
    faces = synth.patches(a.faceid, a.shared, photos, os.path.join(a.work, "patches"))
    known = sorted({f[0] for f in faces if f[0]})
    print(f"faces: {len(faces)} ({sum(1 for f in faces if f[0])} of {len(known)} known people, "
          f"{sum(1 for f in faces if not f[0])} strangers)")
    rng = np.random.default_rng(2026)
    result = {"cpu": cpu_name()}
    parts = a.part.split(",")
    if "detect" in parts:
        configs = [("tiny, whole frame (before)", "tiny", ("--tile-face", "0")),
                   ("tiny, tiles for 24 px", "tiny", ("--tile-face", "24")),
                   ("ssd, whole frame", "ssd", ("--tile-face", "0")),
                   ("ssd, tiles for 24 px", "ssd", ("--tile-face", "24")),
                   ("blazeface, whole frame", "blazeface", ("--tile-face", "0")),
                   ("blazeface, tiles for 24 px", "blazeface", ("--tile-face", "24"))]
        result["detect"] = part_detect(a, faces, rng, configs, photos)
    binaries = [("before", os.environ["FID_EVAL_BEFORE"])] if os.environ.get("FID_EVAL_BEFORE") else []
    binaries.append(("faceid", a.faceid))
    if "enroll" in parts:
        result["enroll"] = part_enroll(a, faces, binaries)
    if "match" in parts:
        result["match"] = part_match(a, faces, rng)
    if "live" in parts:
        result["live"] = part_live(a, faces, rng, photos)
    if "groups" in parts:
        import groups
        result["groups"] = groups.main_part(a, faces, rng, photos, render_clip)
    if "real" in parts:
        import real
        result["real"] = real.main_part(a.faceid, os.path.join(a.work, "real"), a.shared, a.samples,
                                        os.path.dirname(os.path.abspath(a.samples)))
    with open(os.path.join(a.work, "eval.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
