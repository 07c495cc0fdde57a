"""face_recognition's functions in faceid, every way an image arrives, refusals with their reasons,
verify's choice of faces, live events against the CLI's, and the doc page's examples run as they are.
  FID_LIBRARY=build/libfaceid.so.0 PYTHONPATH=python /usr/bin/python3 -m unittest python/tests/test_face_recognition.py"""
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import faceid

SAMPLES = os.path.join(os.environ.get("FID_MODEL_DIR") or faceid.model_dir(), "samples")
DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "python.md")
PHOTO = os.path.join(SAMPLES, "sample1.jpg")


def cli():
    path = os.environ.get("FID_CLI") or shutil.which("faceid")
    return path if path and os.path.exists(path) else None


def faceid_save_png(a, path):
    """A lossless file of an array, for the CLI to read the same pixels (zlib, no Pillow needed)."""
    import struct
    import zlib
    h, w = a.shape[:2]
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def one_face(image, k=0, margin=0.4):
    """The k-th face of a group photo with a margin around it: a photo of one person."""
    top, right, bottom, left = faceid.face_locations(image)[k]
    m = int((bottom - top) * margin)
    return image[max(top - m, 0):bottom + m, max(left - m, 0):right + m].copy()


@unittest.skipUnless(os.path.isdir(SAMPLES), "no sample photos (scripts/setup installs them)")
class FaceRecognitionApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.image = faceid.load_image_file(PHOTO)
        cls.locations = faceid.face_locations(cls.image)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_locations_are_top_right_bottom_left_of_the_detector_boxes(self):
        dets = faceid.Detector().detect(self.image)
        self.assertGreaterEqual(len(self.locations), 3)
        self.assertEqual(len(self.locations), len(dets))
        h, w = self.image.shape[:2]
        for (top, right, bottom, left), d in zip(self.locations, dets):
            self.assertTrue(all(isinstance(v, int) for v in (top, right, bottom, left)))
            self.assertLess(top, bottom)
            self.assertLess(left, right)
            self.assertTrue(0 <= top and bottom <= h and 0 <= left and right <= w)
            self.assertAlmostEqual(left, d.box.x, delta=1)
            self.assertAlmostEqual(top, d.box.y, delta=1)
            self.assertAlmostEqual(right, d.box.x + d.box.width, delta=1)
            self.assertAlmostEqual(bottom, d.box.y + d.box.height, delta=1)
            self.assertEqual(faceid.Box.from_css(d.box.css).css, d.box.css)
        # upsample 0: the whole image only, which misses the smallest face of this 1920 px photo
        self.assertLessEqual(len(faceid.face_locations(self.image, number_of_times_to_upsample=0)), len(self.locations))
        self.assertEqual(faceid.batch_face_locations([self.image, self.image]), [self.locations, self.locations])
        with self.assertRaises(faceid.Error):
            faceid.face_locations(self.image, number_of_times_to_upsample=-1)
        with self.assertRaises(faceid.Error):
            faceid.face_locations(self.image, model="no-such-detector")

    def test_every_way_an_image_arrives_is_the_same_picture(self):
        want = self.locations
        with open(PHOTO, "rb") as f:
            data = f.read()
        rgba = np.concatenate([self.image, np.full(self.image.shape[:2] + (1,), 7, np.uint8)], axis=2)
        same = {
            "str path": PHOTO, "pathlib path": pathlib.Path(PHOTO), "bytes": data, "bytearray": bytearray(data),
            "memoryview": memoryview(data), "BytesIO": io.BytesIO(data), "RGBA": rgba,
            "float 0..1": self.image.astype(np.float64) / 255, "float 0..255": self.image.astype(np.float32),
            "uint16": self.image.astype(np.uint16) * 257, "int64": self.image.astype(np.int64),
            "non-contiguous": np.asfortranarray(self.image),
        }
        for what, image in same.items():
            with self.subTest(image=what):
                self.assertEqual(faceid.face_locations(image), want)
        with open(PHOTO, "rb") as f:
            self.assertEqual(faceid.face_locations(f), want)
        self.assertTrue(np.array_equal(faceid.load_image(data), self.image))
        # grey: H x W and H x W x 1 are one picture, equal to load_image_file(mode="L")
        grey = faceid.load_image_file(PHOTO, mode="L")
        self.assertEqual(grey.shape, self.image.shape[:2])
        g2 = faceid.face_locations(grey)
        self.assertEqual(faceid.face_locations(grey[:, :, None]), g2)
        self.assertGreaterEqual(len(g2), 3)  # the faces are there without colour
        try:
            from PIL import Image
        except ImportError:
            Image = None
        if Image is not None:
            pil = Image.open(PHOTO)
            self.assertEqual(faceid.face_locations(pil), want)
            self.assertEqual(faceid.face_locations(pil.convert("RGBA")), want)
            # Pillow's grey is the same luma as mode="L"
            self.assertLessEqual(np.abs(np.asarray(Image.fromarray(self.image).convert("L"), np.int16)
                                        - grey.astype(np.int16)).max(), 1)

    def test_bad_images_are_one_clear_error(self):
        bad = {
            "NaN": np.full((8, 8, 3), np.nan), "negative float": np.full((8, 8, 3), -1.0),
            "float beyond 255": np.full((8, 8, 3), 300.0), "int beyond 255": np.full((8, 8, 3), 256),
            "2 channels": np.zeros((8, 8, 2), np.uint8), "empty": np.zeros((0, 8, 3), np.uint8),
            "4-D": np.zeros((1, 8, 8, 3), np.uint8), "strings": np.array([["a"]]), "an int": 5,
            "not an image": b"hello", "a missing file": os.path.join(self.tmp, "nope.jpg"),
        }
        for what, image in bad.items():
            with self.subTest(image=what):
                with self.assertRaises(faceid.Error) as e:
                    faceid.face_locations(image)
                self.assertEqual(len(str(e.exception).splitlines()), 1)
        with open(PHOTO, "r", errors="replace") as f:  # text mode
            with self.assertRaises(faceid.Error) as e:
                faceid.load_image(f)
            self.assertIn("binary", str(e.exception))
        with self.assertRaises(faceid.Error) as e:
            faceid.load_image(os.path.join(self.tmp, "nope.jpg"))
        self.assertIn("nope.jpg", str(e.exception))

    def test_encodings(self):
        enc = faceid.face_encodings(self.image)
        self.assertEqual(len(enc), len(self.locations))
        for e in enc:
            self.assertEqual(e.shape, (128,))
            self.assertEqual(e.dtype, np.float64)
        # the same faces through known_face_locations give the same encodings
        known = faceid.face_encodings(self.image, known_face_locations=self.locations)
        for a, b in zip(enc, known):
            self.assertTrue(np.array_equal(a, b))
        # a location no detector gave (moved by a tenth of the face) still describes that face
        top, right, bottom, left = self.locations[0]
        s = (bottom - top) // 10
        moved = faceid.face_encodings(self.image, known_face_locations=[(top + s, right + s, bottom + s, left + s)])[0]
        self.assertLess(np.linalg.norm(moved - enc[0]), 0.3)
        # distances: Euclidean, as face_recognition's
        d = faceid.face_distance(enc, enc[0])
        self.assertEqual(d.shape, (len(enc),))
        self.assertAlmostEqual(d[0], 0.0, places=5)
        self.assertTrue(np.allclose(d, np.linalg.norm(np.array(enc) - enc[0], axis=1), atol=1e-5))
        self.assertEqual(faceid.face_distance([], enc[0]).shape, (0,))
        same = faceid.compare_faces(enc, enc[0])
        self.assertEqual(same[0], True)
        self.assertEqual(same, [bool(x <= 0.6) for x in d])
        self.assertEqual(faceid.compare_faces(enc, enc[0], tolerance=0.0)[1:], [False] * (len(enc) - 1))
        # the same person from another crop of the photo: near, the others far
        again = faceid.face_encodings(one_face(self.image, 0))
        self.assertEqual(len(again), 1)
        dist = faceid.face_distance(enc, again[0])
        self.assertLess(dist[0], 0.3)
        self.assertEqual(int(np.argmin(dist)), 0)
        # jitters: seeded (the same twice), and the same face
        j1 = faceid.face_encodings(self.image, [self.locations[0]], num_jitters=3)[0]
        j2 = faceid.face_encodings(self.image, [self.locations[0]], num_jitters=3)[0]
        self.assertTrue(np.array_equal(j1, j2))
        self.assertLess(np.linalg.norm(j1 - enc[0]), 0.2)
        with self.assertRaises(faceid.Error):
            faceid.face_encodings(self.image, [(10, 5, 20, 15)] and [(10, 5, 5, 15)])  # bottom above top
        with self.assertRaises(faceid.Error):
            faceid.face_encodings(self.image, num_jitters=0)

    def test_landmarks(self):
        marks = faceid.face_landmarks(self.image)
        self.assertEqual(len(marks), len(self.locations))
        sizes = {"chin": 17, "left_eyebrow": 5, "right_eyebrow": 5, "nose_bridge": 4, "nose_tip": 5,
                 "left_eye": 6, "right_eye": 6, "top_lip": 12, "bottom_lip": 12}
        for m, (top, right, bottom, left) in zip(marks, self.locations):
            self.assertEqual({k: len(v) for k, v in m.items()}, sizes)
            # the eyes and nose are inside the face's box (a margin for the detector's box)
            pad = (bottom - top) * 0.25
            for group in ("left_eye", "right_eye", "nose_tip"):
                for x, y in m[group]:
                    self.assertTrue(left - pad <= x <= right + pad and top - pad <= y <= bottom + pad, (group, x, y))
            # the subject's right eye (image left) is left of the other
            self.assertLess(np.mean([p[0] for p in m["left_eye"]]), np.mean([p[0] for p in m["right_eye"]]))
            self.assertLess(np.mean([p[1] for p in m["left_eye"]]), np.mean([p[1] for p in m["top_lip"]]))
        small = faceid.face_landmarks(self.image, model="small")
        self.assertEqual({k: len(v) for k, v in small[0].items()}, {"nose_tip": 1, "left_eye": 2, "right_eye": 2})
        self.assertEqual(small[0]["nose_tip"][0], marks[0]["nose_tip"][2])
        self.assertEqual(len(faceid.face_landmarks(self.image, [self.locations[1]])), 1)
        with self.assertRaises(faceid.Error):
            faceid.face_landmarks(self.image, model="medium")

    def test_refusals_say_which_gate(self):
        face = one_face(self.image, 0)
        path = os.path.join(self.tmp, "refusals.db")
        with faceid.Gallery(path) as g:
            blank = np.full((200, 200, 3), 128, np.uint8)
            with self.assertRaises(faceid.EnrollmentRefused) as e:
                g.enroll("bob", [blank])
            self.assertEqual(e.exception.verdict, "no face")
            self.assertIn("no face found", str(e.exception))
            self.assertEqual(e.exception.reports[0]["faces"], 0)
            # a refusal by a gate carries the gate, what was measured and the limit it missed
            with self.assertRaises(faceid.EnrollmentRefused) as e:
                g.enroll("bob", [face[::5, ::5]])
            refused = e.exception
            self.assertEqual((refused.verdict, refused.gate), ("too small", "face size"))
            self.assertLess(refused.value, refused.limit)
            self.assertIn(f"face too small (face size {refused.value:.3g}, needs {refused.limit:.3g})", str(refused))
            # the CLI says the same of the same picture
            if cli():
                small = os.path.join(self.tmp, "small.png")
                faceid_save_png(face[::5, ::5], small)
                out = subprocess.run([cli(), "enroll", "--gallery", os.path.join(self.tmp, "cli.db"), "--name", "bob",
                                      small], capture_output=True, text=True)
                self.assertNotEqual(out.returncode, 0)
                self.assertIn(f"face too small (face size {refused.value:.3g}, needs {refused.limit:.3g})", out.stderr)
            self.assertEqual(g.people(), {})
            # strict: one refused image refuses all, nothing written; else the good one is kept
            with self.assertRaises(faceid.EnrollmentRefused) as e:
                g.enroll("bob", [face, blank], strict=True)
            self.assertEqual([r["kept"] for r in e.exception.reports], [True, False])
            self.assertEqual(g.people(), {})
            self.assertEqual(g.enroll("bob", [face, blank]), 1)
            # one image alone (a path, an array) is one image, not a list of characters or rows
            g.enroll("dave", PHOTO, force=True)
            g.enroll("erin", face)
            self.assertEqual(g.people()["dave"], 1)
            self.assertEqual(g.people()["erin"], 1)
            # the source of each sample is the file it came from
            g.enroll("carol", [os.path.join(SAMPLES, "sample2.jpg")], force=True)
            self.assertEqual(g.samples("carol")[0]["source"], os.path.join(SAMPLES, "sample2.jpg"))

    def test_verify_refuses_a_group_unless_told(self):
        face = one_face(self.image, 1)
        with self.assertRaises(faceid.Error) as e:
            faceid.verify(self.image, face)
        self.assertIn(f"{len(self.locations)} faces", str(e.exception))
        self.assertIn("face_a", str(e.exception))
        v = faceid.verify(self.image, face, face_a=1)
        same, distance = v
        self.assertTrue(same)
        self.assertEqual((v.same, v.distance), (same, distance))
        self.assertEqual(v.box_a.css, tuple(self.locations[1]))
        self.assertFalse(faceid.verify(self.image, face, face_a=0).same)
        # a box instead of an index; an index beyond the faces found
        by_box = faceid.verify(self.image, face, face_a=self.locations[1])
        self.assertLess(abs(by_box.distance - v.distance), 0.1)
        with self.assertRaises(faceid.Error) as e:
            faceid.verify(self.image, face, face_a=99)
        self.assertIn("99", str(e.exception))
        with self.assertRaises(faceid.Error):
            faceid.verify(np.full((100, 100, 3), 128, np.uint8), face)

    def test_live_events_have_the_cli_fields(self):
        if not shutil.which("ffmpeg"):
            self.skipTest("no ffmpeg")
        clip = os.path.join(self.tmp, "clip.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", PHOTO, "-vf", "scale=960:-2", "-t", "2",
                        "-r", "10", "-pix_fmt", "yuv420p", clip], check=True)
        path = os.path.join(self.tmp, "live.db")
        with faceid.Gallery(path) as g:
            g.enroll("alice", [one_face(self.image, 0)])
        events = [e for f in faceid.live(clip, path, name="door") for e in f.events]
        self.assertTrue(any(e["name"] == "alice" for e in events))
        for e in events:
            self.assertEqual(e["source"], "door")
            self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertEqual("distance" in e, e["name"] != "?", e)
        if cli():
            out = subprocess.run([cli(), "live", "--source", "door=" + clip, "--gallery", path, "--events",
                                  "-", "--no-window"], capture_output=True, text=True)
            theirs = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
            self.assertTrue(theirs, out.stderr)
            by_kind = {}
            for e in theirs:
                by_kind.setdefault((e["event"], e["name"] != "?"), set(e))
            for e in events:
                key = (e["event"], e["name"] != "?")
                if key in by_kind:
                    self.assertEqual(set(e), by_kind[key], key)
            # the same story: who appeared and was named, in order
            self.assertEqual([(e["event"], e["name"]) for e in events], [(e["event"], e["name"]) for e in theirs])


@unittest.skipUnless(os.path.isdir(SAMPLES) and os.path.exists(DOC), "needs the samples and docs/python.md")
class DocExamples(unittest.TestCase):
    def test_every_python_block_of_the_doc_page_runs(self):
        with open(DOC) as f:
            blocks = re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)
        self.assertGreaterEqual(len(blocks), 2)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.dirname(os.path.dirname(faceid.__file__))
        with tempfile.TemporaryDirectory() as tmp:
            for i, code in enumerate(blocks):
                with self.subTest(block=i):
                    r = subprocess.run([sys.executable, "-c", code], cwd=tmp, env=env, capture_output=True, text=True,
                                       timeout=600)
                    self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
