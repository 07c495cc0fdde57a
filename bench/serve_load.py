#!/usr/bin/python3
"""Load on faceid serve over loopback: CLIENTS threads post identify requests (a photo of several
faces) for SECONDS (at most MAX requests) while two cameras play a clip at its pace. Reports
requests/s, p50/p99 latency, the cameras' fps and drops during the load, and the server's RSS
sampled every second (a soak: RSS must level off, not grow). Exits 1 when a request failed, a
camera stopped, or RSS grew more than --rss-growth-mb over the second half of the run.

  serve_load.py FACEID_BINARY GALLERY CLIP PHOTO [--seconds 30] [--clients 2] [--max 100000]
                [--cameras 2] [--workers N] [--threads N] [--json]
"""
import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("faceid")
    ap.add_argument("gallery")
    ap.add_argument("clip")
    ap.add_argument("photo")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--max", type=int, default=100000)
    ap.add_argument("--rss-growth-mb", type=float, default=24)
    ap.add_argument("--cameras", type=int, default=2, help="cameras playing the clip meanwhile")
    ap.add_argument("--workers", type=int, default=-1, help="[server] workers (default: the service's)")
    ap.add_argument("--threads", type=int, default=0, help="[server] threads (default: the service's)")
    ap.add_argument("--json", action="store_true", help="one JSON line instead of the report")
    a = ap.parse_args()
    photo = open(a.photo, "rb").read()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    work = tempfile.mkdtemp()
    ini = os.path.join(work, "load.ini")
    with open(ini, "w") as f:
        # one client address sends every request here: the per-client rate limit would measure itself
        f.write("[server]\nrate-limit = 0\n")
        f.write((f"workers = {a.workers}\n" if a.workers >= 0 else "") + (f"threads = {a.threads}\n" if a.threads else ""))
        for i in range(a.cameras):
            f.write(f"[cam{i + 1}]\nsource = {a.clip}\n")
    env = dict(os.environ, FID_GALLERY=a.gallery)
    err = open(os.path.join(work, "serve.err"), "w")
    srv = subprocess.Popen([a.faceid, "serve", "--listen", f"127.0.0.1:{port}", "--config", ini], env=env, stderr=err)
    failures = []
    try:
        for _ in range(300):
            try:
                if get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        time.sleep(3 if a.cameras else 0.5)  # the cameras' detectors loaded and running
        cams0 = {c["name"]: c for c in json.loads(get(port, "/api/v1/cameras")[1])["cameras"]}
        latencies, lock, stop = [], threading.Lock(), threading.Event()
        count = [0]

        def client():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            while not stop.is_set():
                with lock:
                    if count[0] >= a.max:
                        return
                    count[0] += 1
                t0 = time.monotonic()
                try:
                    c.request("POST", "/api/v1/identify", body=photo, headers={"Content-Type": "image/jpeg"})
                    r = c.getresponse()
                    body = r.read()
                    ok = r.status == 200 and json.loads(body)["faces"]
                except (OSError, http.client.HTTPException, ValueError) as e:
                    ok, body = False, str(e).encode()
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                dt = time.monotonic() - t0
                with lock:
                    latencies.append(dt)
                    if not ok:
                        failures.append(body[:200])

        rss = []
        threads = [threading.Thread(target=client) for _ in range(a.clients)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        while time.monotonic() - t0 < a.seconds and any(t.is_alive() for t in threads):
            time.sleep(1)
            rss.append(rss_mb(srv.pid))
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        cams1 = {c["name"]: c for c in json.loads(get(port, "/api/v1/cameras")[1])["cameras"]}
    finally:
        srv.terminate()
        rc = srv.wait(timeout=30)
    lat = sorted(latencies)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
    if a.json:
        print(json.dumps({"clients": a.clients, "cameras": a.cameras, "requests": len(lat),
                          "per_s": len(lat) / elapsed, "p50_ms": p(0.5), "p99_ms": p(0.99), "failed": len(failures)}))
        sys.exit(1 if failures else 0)
    print(f"CPU: {cpu_name()}, {os.cpu_count()} CPUs")
    print(f"identify over loopback, {a.clients} clients, {elapsed:.0f} s, {a.cameras} cameras running:")
    print(f"  {len(lat)} requests, {len(lat) / elapsed:.1f} requests/s, p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, "
          f"{len(failures)} failed")
    for name, c in sorted(cams1.items()):
        frames = c["frames"] - cams0[name]["frames"]
        dropped = c["dropped"] - cams0[name]["dropped"]
        print(f"  camera {name}: {frames / elapsed:.1f} fps during the load, {dropped} frames dropped, "
              f"latency p99 {c['latency_p99'] * 1000 if c['latency_p99'] else float('nan'):.0f} ms, state {c['state']}")
    half = rss[len(rss) // 2:] or rss
    growth = (max(half) - half[0]) if half else 0
    print(f"  server RSS: start {rss[0] if rss else 0:.0f} MB, end {rss[-1] if rss else 0:.0f} MB, "
          f"peak {max(rss) if rss else 0:.0f} MB; growth over the second half {growth:.1f} MB")
    bad = []
    if failures:
        bad.append(f"{len(failures)} requests failed, e.g. {failures[0]!r}")
    if any(c["state"] not in ("running", "restarting") for c in cams1.values()):  # a file reopened at its end
        bad.append("a camera stopped running")
    if growth > a.rss_growth_mb:
        bad.append(f"RSS grew {growth:.1f} MB over the second half (limit {a.rss_growth_mb})")
    if rc != 0:
        bad.append(f"serve exited {rc} on SIGTERM")
    for b in bad:
        print("FAIL: " + b, file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
