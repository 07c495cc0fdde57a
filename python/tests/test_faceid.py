"""The Python binding against libfaceid: images, detection, descriptors, verification, a gallery
and the live pipeline, on face-api's sample photos (installed by scripts/setup).
  FID_LIBRARY=build/libfaceid.so.0 PYTHONPATH=python /usr/bin/python3 -m unittest discover python/tests"""
import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np

import faceid

SAMPLES = os.path.join(os.environ.get("FID_MODEL_DIR") or faceid.model_dir(), "samples")


def cli():
    """The faceid command to compare with, or None (a library-only build has none)."""
    path = os.environ.get("FID_CLI") or shutil.which("faceid")
    return path if path and os.path.exists(path) else None


def sample(n):
    return faceid.load_image(os.path.join(SAMPLES, f"sample{n}.jpg"))


@unittest.skipUnless(os.path.isdir(SAMPLES), "no sample photos (scripts/setup installs them)")
class Binding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_image_round_trip(self):
        im = sample(1)
        self.assertEqual(im.dtype, np.uint8)
        self.assertEqual(im.ndim, 3)
        self.assertEqual(im.shape[2], 3)
        # a float copy (0..255) is the same picture: the same faces
        self.assertEqual(faceid.Detector().detect(im.astype(np.float32)), faceid.Detector().detect(im))
        with self.assertRaises(faceid.Error):  # but a float image beyond 0..255 is refused, not wrapped
            faceid.Detector().detect(im.astype(np.float32) * 2)

    def test_bad_file_is_an_error_with_the_library_message(self):
        path = os.path.join(self.tmp, "not.jpg")
        with open(path, "w") as f:
            f.write("not an image")
        with self.assertRaises(faceid.Error) as e:
            faceid.load_image(path)
        self.assertIn("not.jpg", str(e.exception))
        self.assertNotEqual(e.exception.status, 0)

    def test_a_missing_part_is_a_clear_error(self):
        onnx = os.path.join(self.tmp, "net.onnx")
        with open(onnx, "wb") as f:
            f.write(b"\x08\x07")
        with self.assertRaises(faceid.Error) as e:
            faceid.Embedder("onnx", model_path=onnx)
        if "-onnx" in faceid.build_features():  # a build with FID_WITH_ONNX=OFF says so
            self.assertIn("FID_WITH_ONNX=OFF", str(e.exception))
        else:
            self.assertIn("net.onnx", str(e.exception))

    def test_detect_matches_the_cli(self):
        if not cli():
            self.skipTest("no faceid CLI to compare with")
        out = subprocess.run([cli(), "detect", "--json", os.path.join(SAMPLES, "sample2.jpg")], capture_output=True,
                             text=True)
        import json
        expected = json.loads(out.stdout)["files"][0]["faces"]
        faces = faceid.Detector().detect(sample(2))
        self.assertEqual(len(faces), len(expected))
        for f, c in zip(faces, expected):
            self.assertAlmostEqual(f.box.x, c["box"][0], delta=1)
            self.assertAlmostEqual(f.box.width, c["box"][2], delta=1)
            self.assertEqual(len(f.keypoints), 6)

    def test_embed_and_verify(self):
        emb = faceid.Embedder()
        self.assertEqual(emb.dim, 128)
        im = sample(1)
        d = faceid.Detector().detect(im)[0]
        v = emb.embed(im, d)
        self.assertEqual(v.shape, (128,))
        self.assertAlmostEqual(emb.distance(v, v), 0.0, places=5)
        # sample1 is a group photo: verify compares the faces it is told to
        same, dist = faceid.verify(im, im, face_a=0, face_b=0)
        self.assertTrue(same)
        self.assertLess(dist, 1e-3)
        same, dist = faceid.verify(sample(1), sample(3), face_a=0, face_b=0)
        self.assertFalse(same)
        self.assertGreater(dist, emb.threshold)

    def test_gallery(self):
        path = os.path.join(self.tmp, "g.db")
        with faceid.Gallery(path) as g:
            self.assertEqual(g.people(), {})
            self.assertGreaterEqual(g.enroll("alice", [sample(1)], force=True), 1)
            self.assertGreaterEqual(g.enroll("bob", [sample(3)], force=True), 1)
            self.assertEqual(sorted(g.people()), ["alice", "bob"])
            names = [f.name for f in g.identify(sample(1))]
            self.assertIn("alice", names)
            self.assertNotIn("bob", names)
            stranger = [f for f in g.identify(sample(1)) if f.name == "?"]
            self.assertTrue(all(f.distance is None for f in stranger))
            with self.assertRaises(faceid.Error) as e:
                g.enroll("../x", [sample(1)], force=True)
            self.assertIn("name", str(e.exception))
            g.rename("bob", "robert")
            self.assertEqual(sorted(g.people()), ["alice", "robert"])
            g.remove("robert")
            self.assertEqual(list(g.people()), ["alice"])
            with self.assertRaises(faceid.Error):
                g.remove("nobody")
        # the CLI reads what Python wrote
        if cli():
            out = subprocess.run([cli(), "list", "--gallery", path], capture_output=True, text=True)
            self.assertIn("alice", out.stdout)

    def test_review_and_correct(self):
        path = os.path.join(self.tmp, "review.db")
        with faceid.Gallery(path) as g:
            g.enroll("alice", [sample(1)], force=True)
            g.enroll("bob", [sample(3), sample(4)], force=True)
            s = g.samples("alice")
            self.assertEqual(len(s), 1)
            self.assertTrue(s[0]["crop"] and s[0]["id"] > 0 and 0 < s[0]["quality"] <= 1, s)
            self.assertEqual(g.sample_crop("alice", s[0]["id"])[:2], b"\xff\xd8")  # a JPEG
            with self.assertRaises(faceid.Error):
                g.samples("nobody")
            bob = g.samples("bob")
            with self.assertRaises(faceid.Error):  # bob's sample is not alice's to remove
                g.remove_sample("alice", bob[0]["id"])
            g.move_sample("bob", bob[0]["id"], "carol")
            self.assertEqual(g.people(), {"alice": 1, "bob": 1, "carol": 1})
            g.merge("carol", "bob")
            self.assertEqual(g.people(), {"alice": 1, "bob": 2})
            g.remove_sample("bob", bob[0]["id"])
            self.assertEqual(g.people(), {"alice": 1, "bob": 1})
            # not alice: her face from this photo is kept as a counter-example
            face = [f for f in g.identify(sample(1)) if f.name == "alice"][0]
            g.reject("alice", face.descriptor + 0.001)
            m = g.match(face.descriptor + 0.001)
            self.assertEqual(m.name, "?")
            # the sample itself is nearer her sample (0) than the counter-example: still her
            self.assertIn("alice", [f.name for f in g.identify(sample(1))])

    def test_live(self):
        if not shutil.which("ffmpeg"):
            self.skipTest("no ffmpeg")
        clip = os.path.join(self.tmp, "clip.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", os.path.join(SAMPLES, "sample1.jpg"),
                        "-vf", "scale=960:-2", "-t", "2", "-r", "10", "-pix_fmt", "yuv420p", clip], check=True)
        path = os.path.join(self.tmp, "live.db")
        with faceid.Gallery(path) as g:
            g.enroll("alice", [sample(1)], force=True)
        frames, named = 0, set()
        for frame in faceid.live(clip, path):
            if frame.image.size:
                frames += 1
                self.assertEqual(frame.image.shape[2], 3)
            named |= {t.name for t in frame.tracks}
            named |= {e["name"] for e in frame.events}
        self.assertGreaterEqual(frames, 15)
        self.assertIn("alice", named)

    def test_threads_share_the_default_models_and_a_gallery(self):
        # ctypes lets go of the GIL: two threads on one detector/embedder crashed the process
        # (segfault, double free); now each thread has its own defaults and a shared handle
        # takes turns. Every thread's answers must equal the single-threaded ones.
        import threading
        path = os.path.join(self.tmp, "threads.db")
        images = [sample(n) for n in (1, 2, 3, 4)]
        with faceid.Gallery(path) as g:
            g.enroll("alice", [images[0]], force=True)
            want = [[f.name for f in g.identify(im)] for im in images]
            det = faceid.Detector()
            want_boxes = [len(det.detect(im)) for im in images]
            errors, results = [], []

            def work(k):
                try:
                    for r in range(3):
                        i = (k + r) % 4
                        results.append(([f.name for f in g.identify(images[i])], want[i]))  # one shared gallery
                        results.append((len(det.detect(images[i])), want_boxes[i]))  # one shared detector
                        same, _ = faceid.verify(images[0], images[0], face_a=0, face_b=0)  # this thread's models
                        results.append((same, True))
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(repr(e))

            threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(errors, [])
            self.assertEqual(len(results), 4 * 3 * 3)
            for got, expected in results:
                self.assertEqual(got, expected)

    def test_arrays_and_names_are_checked(self):
        path = os.path.join(self.tmp, "checks.db")
        with faceid.Gallery(path) as g:
            g.enroll("alice", [sample(1)], force=True)
            dim = g.embedder.dim
            good = [f for f in g.identify(sample(1)) if f.name == "alice"][0].descriptor
            self.assertEqual(g.match(good).name, "alice")
            for bad in (good[: dim // 2],  # too short: was read past its end
                        np.stack([good, good]),  # two rows: the first was used silently
                        np.full(dim, np.nan, np.float32),  # not finite
                        np.array(["x"] * dim),  # not numbers
                        good.reshape(dim, 1)):
                with self.assertRaises(faceid.Error, msg=f"{getattr(bad, 'shape', bad)}"):
                    g.match(bad)
            with self.assertRaises(faceid.Error):
                g.embedder.distance(good, good[:-1])
            # a NUL in a name addressed the name before it
            g.enroll("bob", [sample(2)], force=True)
            for call in (lambda: g.remove("bob\0x"), lambda: g.rename("bob\0x", "carol"),
                         lambda: g.rename("bob", "carol\0x"), lambda: g.enroll("bob\0x", [sample(2)], force=True)):
                with self.assertRaises(faceid.Error):
                    call()
            self.assertEqual(sorted(g.people()), ["alice", "bob"])
            # a NaN box gave a descriptor
            d = faceid.Detector().detect(sample(1))[0]
            nan_box = faceid.Detection(faceid.Box(float("nan"), d.box.y, d.box.width, d.box.height), d.score, ())
            with self.assertRaises(faceid.Error):
                g.embedder.embed(sample(1), nan_box)
            for image in (np.zeros((0, 5, 3), np.uint8), np.zeros((5, 5, 2), np.uint8), [[1, 2, 3]]):
                with self.assertRaises(faceid.Error):
                    g.identify(image)


if __name__ == "__main__":
    unittest.main()
