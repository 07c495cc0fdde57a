"""make eval, part "groups": does each group of "who is this?" hold one person? `faceid serve` follows a
synthesized 1080p clip of strangers (an empty gallery: everyone is a stranger) as a camera; each
group's faces are traced back, through the event that sent them (track and frame), to the person
composited there. Purity: groups whose faces are all one person. Completeness: per person, the
share of their grouped faces in their largest group."""
import json
import os
import socket
import subprocess
import time
import urllib.request

import synth


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def run(faceid, work, clip, truth, fps, seconds, label):
    """Serves the clip for `seconds`; returns the groups' purity and completeness."""
    port = free_port()
    db = os.path.join(work, f"{label}.db")
    for ext in ("", "-wal", "-shm"):
        if os.path.exists(db + ext):
            os.remove(db + ext)
    err = open(os.path.join(work, f"{label}.serve.log"), "w")
    srv = subprocess.Popen([faceid, "serve", "--listen", f"127.0.0.1:{port}", "--gallery", db, "--source",
                            f"cam={clip}"], stdout=subprocess.DEVNULL, stderr=err)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                get(base + "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(seconds)
        groups = get(base + "/api/v1/unknown")["groups"]
        events = get(base + "/api/v1/events?limit=10000")["events"]
    finally:
        srv.terminate()
        srv.wait(timeout=30)
        err.close()
    box_of = {(e["track"], e["frame"]): (e["box"], e["stream_time"]) for e in events}
    n = len(truth)
    who_of_group, faces_of = [], {}
    for g in groups:
        ids = []
        for f in g["faces"]:
            b = box_of.get((f["track"], f["frame"]))
            if not b:
                continue
            t = truth[int(round(b[1] * fps)) % n]
            got = synth.match([x["box"] for x in t], [b[0]])
            hit = [x["label"] for x, k in zip(t, got) if k >= 0]
            if hit:
                ids.append(hit[0])
        who_of_group.append(ids)
        for i in ids:
            faces_of.setdefault(i, []).append(len(who_of_group) - 1)
    mapped = [ids for ids in who_of_group if ids]
    pure = sum(1 for ids in mapped if len(set(ids)) == 1)
    complete = {p: max(gs.count(g) for g in set(gs)) / len(gs) for p, gs in faces_of.items()}
    return {"groups": len(groups), "mapped": len(mapped), "pure": pure,
            "people": len(faces_of), "completeness": complete,
            "faces": sum(len(g["faces"]) for g in groups)}


def main_part(a, faces, rng, photos, render_clip):
    work = os.path.join(a.work, "groups")
    os.makedirs(work, exist_ok=True)
    strangers = [f for f in faces if f[0] is None] + [f for f in faces if f[0]]
    fps, seconds = 30, 4 if a.quick else 8
    rows = []
    for k, count in enumerate((3, 6)):
        idx = rng.choice(len(strangers), count, replace=False)
        cast = [(f"person{i}", strangers[j][2], strangers[j][3]) for i, j in enumerate(idx)]
        clip = os.path.join(work, f"strangers{k}.mp4")
        truth = render_clip(clip, rng, cast, photos, seconds, fps=fps)
        for t in truth:  # the background photo's own faces are people too: one label each, by place
            for x in t:
                x["label"] = x["identity"] or "own@%d,%d" % (round(x["box"][0] / 20), round(x["box"][1] / 20))
        r = run(a.faceid, work, clip, truth, fps, seconds * 1.5 + 4, f"strangers{k}")
        r["clip"] = f"{count} strangers walking + the photo's own faces"
        rows.append(r)
    print("\n## Stranger groups (\"who is this?\", faceid serve on 1080p clips, empty gallery)")
    print("| clip | groups | groups traced to people | one person only | people | their faces in their largest group |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        c = sorted(r["completeness"].values())
        print(f"| {r['clip']} | {r['groups']} | {r['mapped']} | {r['pure']}/{r['mapped']} | {r['people']} | "
              f"min {100 * c[0]:.0f}%, median {100 * c[len(c) // 2]:.0f}% |" if c else f"| {r['clip']} | {r['groups']} | 0 | — | 0 | — |")
    return rows
