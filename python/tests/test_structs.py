"""The binding's ctypes mirrors against include/faceid.h: every struct the binding passes or reads
must have the header's members, in its order, at the offsets and sizes the C compiler gives them.
A member added, renamed, reordered or retyped in the header fails here, not in a user's process
(a short mirror lets the library write past the end of the Python buffer).
  PYTHONPATH=python /usr/bin/python3 -m unittest python/tests/test_structs.py"""
import ctypes
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import faceid

HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "include", "faceid.h")
CC = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


def mirrors():
    """Every ctypes.Structure of the binding that names its C struct (_c_)."""
    out = []
    for v in vars(faceid).values():
        if isinstance(v, type) and issubclass(v, ctypes.Structure) and getattr(v, "_c_", None):
            out.append(v)
    return sorted(out, key=lambda c: c._c_)


def header_members(text: str, name: str):
    """The member names of `typedef struct name { ... } name;`, in order, read from the header."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    m = re.search(r"typedef\s+struct\s+" + name + r"\s*\{(.*?)\}\s*" + name + r"\s*;", text, flags=re.S)
    if not m:
        return None
    names = []
    for decl in m.group(1).split(";"):
        decl = decl.strip()
        if not decl:
            continue
        if "(" in decl:  # a function pointer: (*name)(...)
            names.append(re.search(r"\(\s*\*\s*(\w+)\s*\)", decl).group(1))
            continue
        parts = decl.split(",")
        first = re.sub(r"\[[^\]]*\]", "", parts[0]).strip()
        names.append(re.findall(r"\w+", first)[-1])
        for p in parts[1:]:
            names.append(re.findall(r"\w+", re.sub(r"\[[^\]]*\]", "", p))[0])
    return names


@unittest.skipUnless(os.path.exists(HEADER) and CC, "needs the source tree's include/faceid.h and a C compiler")
class Structs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(HEADER) as f:
            cls.text = f.read()
        # what the compiler says: sizeof and alignment of each struct, offsetof and sizeof of each member
        lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "faceid.h"', "int main(void) {"]
        for c in mirrors():
            lines.append(f'printf("{c._c_} %zu %zu\\n", sizeof({c._c_}), _Alignof({c._c_}));')
            for f in c._fields_:
                m = f[0]
                lines.append(f'printf("{c._c_}.{m} %zu %zu\\n", offsetof({c._c_}, {m}), '
                             f"sizeof((({c._c_} *)0)->{m}));")
        lines += ["return 0;", "}"]
        cls.tmp = tempfile.mkdtemp()
        src, exe = os.path.join(cls.tmp, "layout.c"), os.path.join(cls.tmp, "layout")
        with open(src, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run([CC, "-std=c11", "-I", os.path.dirname(HEADER), src, "-o", exe],
                           capture_output=True, text=True)
        cls.compile_error = r.stderr if r.returncode else None
        cls.layout = {}
        if not cls.compile_error:
            for line in subprocess.run([exe], capture_output=True, text=True, check=True).stdout.splitlines():
                key, a, b = line.split()
                cls.layout[key] = (int(a), int(b))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_mirrors_exist(self):
        # the structs the binding cannot work without are mirrored (and so checked here)
        have = {c._c_ for c in mirrors()}
        for n in ("fid_box", "fid_detection", "fid_face", "fid_match", "fid_enroll_report", "fid_pipeline_params",
                  "fid_pipeline_event", "fid_pipeline_result", "fid_track_info"):
            self.assertIn(n, have)

    def test_member_names_and_order(self):
        for c in mirrors():
            with self.subTest(struct=c._c_):
                members = header_members(self.text, c._c_)
                self.assertIsNotNone(members, f"{c._c_} is not a typedef struct in faceid.h")
                self.assertEqual([f[0] for f in c._fields_], members)

    def test_offsets_and_sizes(self):
        self.assertIsNone(self.compile_error, f"a mirror names a member the header lacks:\n{self.compile_error}")
        for c in mirrors():
            with self.subTest(struct=c._c_):
                self.assertEqual(ctypes.sizeof(c), self.layout[c._c_][0], "sizeof")
                self.assertEqual(ctypes.alignment(c), self.layout[c._c_][1], "alignment")
                for f in c._fields_:
                    off, size = self.layout[f"{c._c_}.{f[0]}"]
                    self.assertEqual((getattr(c, f[0]).offset, getattr(c, f[0]).size), (off, size), f[0])

    def test_the_parser_sees_a_changed_header(self):
        # the check itself: a member added to a struct is a difference it reports
        changed = self.text.replace("typedef struct fid_box {", "typedef struct fid_box {\n    int added;", 1)
        self.assertNotEqual(header_members(changed, "fid_box"), [f[0] for f in faceid._Box._fields_])


if __name__ == "__main__":
    unittest.main()
