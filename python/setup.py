"""Records which libfaceid this package belongs to (faceid/_library.py in the built package, never
in the source tree): FID_LIBRARY at install time, else the libfaceid.so.0 of the source tree's
build/. The package falls back to the system's libfaceid.so.0 when that file is gone."""
import os

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def library():
    env = os.environ.get("FID_LIBRARY")
    if env:
        if not os.path.exists(env):
            raise SystemExit(f"faceid: FID_LIBRARY={env}: no such file")
        return os.path.abspath(env)
    built = os.path.join(HERE, "..", "build", "libfaceid.so.0")
    return os.path.realpath(built) if os.path.exists(built) else None


class BuildPy(build_py):
    def run(self):
        super().run()
        path = os.path.join(self.build_lib, "faceid", "_library.py")
        with open(path, "w") as f:
            f.write('"""Written by setup.py: the libfaceid this package was installed beside (None: the system\'s)."""\n')
            f.write(f"LIBRARY = {library()!r}\n")


setup(cmdclass={"build_py": BuildPy})
