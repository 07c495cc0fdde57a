#!/usr/bin/python3
"""Helpers of tests/faults_test.sh that read and damage galleries without faceid (an independent
view of the SQLite file), make hostile names and check outputs.

  snap DB                      canonical content: people, sample counts, descriptor hashes, settings
  names SEED N                 N hostile names, NUL-separated, each followed by its verdict under
                               the naming rule (a reference implementation, not faceid's code)
  valid NAME                   exit 0 when NAME is valid under the rule
  fill DB SEED PEOPLE MAXS DIM people with 0..MAXS random samples (0: an empty person), for calibrate
  nan DB                       one descriptor value of the first sample becomes NaN
  flip SRC DST OFFSET          DST = SRC with the byte at OFFSET inverted
  export_ok FILE               a gallery export: every descriptor finite, names valid strings
  jsonl_ok FILE                every line a JSON object (a killed run may not leave half a line)
  big_png OUT W H              a PNG of W x H pixels (zlib, tiny on disk)
"""
import hashlib
import json
import math
import random
import sqlite3
import struct
import sys
import zlib

BIDI = {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x2028, 0x2029, 0x200E, 0x200F,
        0x061C}


def valid(raw: bytes) -> bool:
    """The documented rule of fid_person_name_check (include/faceid.h)."""
    if not raw or len(raw) > 200:
        return False
    try:
        name = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        return False
    if name == "?" or name.startswith(".") or name.startswith(" ") or name.endswith(" "):
        return False
    for ch in name:
        c = ord(ch)
        if c < 0x20 or c == 0x7F or 0x80 <= c < 0xA0 or ch in "/\\" or c in BIDI or 0xD800 <= c <= 0xDFFF:
            return False
    return True


def snap(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    # the content, not the change counter ('version' moves with a rename and its way back)
    out = {"meta": sorted(con.execute("SELECT key, value FROM meta WHERE key <> 'version'").fetchall()), "people": []}
    for pid, name in con.execute("SELECT id, name FROM person ORDER BY name"):
        h = hashlib.sha256()
        rows = con.execute("SELECT descriptor FROM sample WHERE person = ? ORDER BY descriptor", (pid,)).fetchall()
        for (d,) in rows:
            h.update(d)
        out["people"].append([name, len(rows), h.hexdigest()[:16]])
    print(json.dumps(out, ensure_ascii=True, sort_keys=True))


def names(seed, n):
    rnd = random.Random(seed)
    pieces = ["a", "Bo", "é", "程维", "Zoë", "/", "\\", ".", "..", " ", "\n", "\t", "\x1b[31m", "\x7f", "\u0085",
              "\u202e", "\u2028", "?", "-", "'", '"', "$(id)", "*", "%s", ":", "NUL", "\u200f", "🙂", "x" * 60]
    out = sys.stdout.buffer
    for _ in range(n):
        raw = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 4))).encode()
        if rnd.random() < 0.1:  # invalid UTF-8
            raw = raw + bytes([rnd.choice([0xFF, 0xC0, 0xED, 0x80])])
        if rnd.random() < 0.05:
            raw = b"x" * rnd.choice([199, 200, 201, 250])
        out.write(raw + b"\0" + (b"1" if valid(raw) else b"0") + b"\0")


def fill(db, seed, people, maxs, dim):
    rnd = random.Random(seed)
    con = sqlite3.connect(db)
    for i in range(people):
        cur = con.execute("INSERT INTO person(name, created) VALUES(?, 0)", (f"p{seed}_{i}",))
        for _ in range(rnd.randint(0, maxs)):
            v = [rnd.gauss(0, 0.1) for _ in range(dim)]
            con.execute("INSERT INTO sample(person, descriptor, created) VALUES(?, ?, 0)",
                        (cur.lastrowid, struct.pack(f"{dim}f", *v)))
    con.commit()


def nan(db):
    con = sqlite3.connect(db)
    sid, d = con.execute("SELECT id, descriptor FROM sample ORDER BY id LIMIT 1").fetchone()
    d = bytearray(d)
    d[4:8] = struct.pack("f", float("nan"))
    con.execute("UPDATE sample SET descriptor = ? WHERE id = ?", (bytes(d), sid))
    con.commit()


def flip(src, dst, offset):
    data = bytearray(open(src, "rb").read())
    data[offset] ^= 0xFF
    open(dst, "wb").write(data)


def export_ok(path):
    doc = json.load(open(path))
    for p in doc["people"]:
        assert isinstance(p["name"], str) and p["name"], p
        for s in p["samples"]:
            assert all(math.isfinite(v) for v in s["descriptor"]), p["name"]


def jsonl_ok(path):
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            assert line.endswith(b"\n"), f"line {n} is cut"
            assert isinstance(json.loads(line), dict), f"line {n}"


def big_png(out, w, h):
    raw = b"".join(b"\0" + b"\x80" * (w * 3) for _ in range(h))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(out, "wb").write(png)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "snap":
        snap(args[0])
    elif cmd == "names":
        names(int(args[0]), int(args[1]))
    elif cmd == "valid":
        sys.exit(0 if valid(args[0].encode("utf-8", "surrogateescape")) else 1)
    elif cmd == "fill":
        fill(args[0], int(args[1]), int(args[2]), int(args[3]), int(args[4]))
    elif cmd == "nan":
        nan(args[0])
    elif cmd == "flip":
        flip(args[0], args[1], int(args[2]))
    elif cmd == "export_ok":
        export_ok(args[0])
    elif cmd == "jsonl_ok":
        jsonl_ok(args[0])
    elif cmd == "big_png":
        big_png(args[0], int(args[1]), int(args[2]))
    else:
        sys.exit(f"unknown command {cmd}")
