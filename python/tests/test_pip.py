"""`pip install --no-index --no-build-isolation ./python` into a fresh virtual environment (Debian's
python3 with --system-site-packages for numpy): the installed package finds the libfaceid it was
built beside from any directory, says the version the library says, and uninstalls cleanly.
  FID_LIBRARY=build/libfaceid.so.0 PYTHONPATH=python /usr/bin/python3 -m unittest python/tests/test_pip.py"""
import os
import shutil
import subprocess
import tempfile
import unittest

import faceid

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..")
SAMPLES = os.path.join(os.environ.get("FID_MODEL_DIR") or faceid.model_dir(), "samples")


def venv_works():
    r = subprocess.run(["/usr/bin/python3", "-c", "import ensurepip, venv"], capture_output=True)
    return r.returncode == 0 and os.path.exists(os.path.join(SOURCE, "pyproject.toml"))


@unittest.skipUnless(venv_works() and os.path.isdir(SAMPLES), "needs python3-venv, the source tree and the samples")
class PipInstall(unittest.TestCase):
    def test_install_use_uninstall(self):
        lib = os.environ.get("FID_LIBRARY") or faceid._lib._name
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "src")  # a copy: the build leaves nothing in the source tree
            shutil.copytree(SOURCE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__",
                                                                        "_library.py", "tests"))
            venv = os.path.join(tmp, "env")
            subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv], check=True)
            py = os.path.join(venv, "bin", "python")
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FID_LIBRARY")}
            r = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-build-isolation", src], cwd=tmp,
                               env=dict(env, FID_LIBRARY=lib), capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            code = ("import faceid, os, sys; im = os.path.join(sys.argv[1], 'sample1.jpg');"
                    "print(faceid.__file__); print(faceid._lib._name); print(faceid.version());"
                    "print(len(faceid.face_locations(im)), len(faceid.face_encodings(im)[0]))")
            r = subprocess.run([py, "-c", code, SAMPLES], cwd="/", env=env, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            where, loaded, version, counts = r.stdout.splitlines()
            self.assertTrue(where.startswith(venv), where)
            self.assertEqual(os.path.realpath(loaded), os.path.realpath(lib))
            self.assertEqual(version, faceid.version())
            self.assertEqual(counts, f"{len(faceid.face_locations(os.path.join(SAMPLES, 'sample1.jpg')))} 128")
            r = subprocess.run([py, "-m", "pip", "show", "faceid"], env=env, capture_output=True, text=True)
            self.assertIn(f"Version: {faceid.version()}", r.stdout)
            r = subprocess.run([py, "-m", "pip", "uninstall", "-y", "faceid"], env=env, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  env=env, capture_output=True, text=True).stdout.strip()
            self.assertEqual([n for n in os.listdir(site) if n.startswith("faceid")], [])
            # the install-time check: a library path that does not exist is refused, with its name
            r = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-build-isolation", src], cwd=tmp,
                               env=dict(env, FID_LIBRARY=os.path.join(tmp, "nope.so")), capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("nope.so", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
