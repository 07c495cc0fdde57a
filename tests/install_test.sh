#!/usr/bin/env bash
# make install into a temporary prefix, then use it as someone outside the checkout would:
#   - the installed CLI finds its models without FID_MODEL_DIR, also after the prefix is moved;
#   - libfaceid.so exports the fid_ API and nothing else, with a soname;
#   - an external C program builds with `pkg-config --cflags --libs faceid` and with CMake's
#     find_package(faceid), and runs against the installed library and models;
#   - the static library links with `pkg-config --static`;
#   - make uninstall's manifest removes every installed file.
#   install_test.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 src=$(cd "$2" && pwd)
samples=$src/.cache/models/samples
[ -d "$samples" ] || { echo "skip: no models installed by scripts/setup"; exit 77; }
# a sanitizer build's library needs its runtime loaded first: programs and python3 from outside
# the build cannot load it (make test-asan covers the library through the other tests)
ldd "$build/libfaceid.so" 2>/dev/null | grep -q 'libasan\|libtsan' && { echo "skip: a sanitizer build (libfaceid.so needs libasan preloaded)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() { local what=$1; shift; if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi; }
unset FID_MODEL_DIR

cmake --install "$build" --prefix "$tmp/a/usr" > "$tmp/install.log" 2>&1
check "cmake --install succeeds" test $? = 0
p=$tmp/a/usr
check "the CLI is installed" test -x "$p/bin/faceid"
check "libfaceid.so.0 with its soname" sh -c "objdump -p '$p/lib/libfaceid.so.0' | grep -q 'SONAME *libfaceid.so.0'"
nm -D --defined-only "$p/lib/libfaceid.so.0" | awk '$2 ~ /[TDBR]/ {sub(/@.*/, "", $3); print $3}' > "$tmp/exported"
check "only fid_ names are exported ($(grep -vc '^fid_[a-z0-9]' "$tmp/exported") others)" sh -c "! grep -v '^fid_[a-z0-9]' '$tmp/exported'"
grep -o 'fid_[a-z0-9_]*(' "$src/include/faceid.h" | tr -d '(' | sort -u > "$tmp/declared"
check "... exactly the functions faceid.h declares" sh -c "sort -u '$tmp/exported' | diff - '$tmp/declared'"
check "man pages for faceid and each command ($(ls "$p/share/man/man1" 2>/dev/null | wc -l))" test -f "$p/share/man/man1/faceid-serve.1" -a -f "$p/share/man/man1/faceid.1"
check "... from the same text as --help" sh -c "grep -q 'blur\\\\-unknown' '$p/share/man/man1/faceid-serve.1' && '$p/bin/faceid' serve --help | grep -q -- '--blur-unknown'"
check "the installed CLI finds its models without FID_MODEL_DIR" sh -c "'$p/bin/faceid' detect '$samples/sample1.jpg' > '$tmp/out' && grep -q 'face 1' '$tmp/out'"
mv "$tmp/a" "$tmp/b"; p=$tmp/b/usr
check "... also after the prefix moved (relocatable)" sh -c "'$p/bin/faceid' detect '$samples/sample1.jpg' | grep -q 'face 1'"

# an external program with pkg-config (faceid.pc is relative to itself: right after the move too)
export PKG_CONFIG_PATH=$p/lib/pkgconfig
flags=$(pkg-config --cflags --libs faceid)
check "pkg-config knows faceid ($flags)" test -n "$flags"
cc -std=c11 -Wall -o "$tmp/example" "$src/tests/install/example.c" $flags -Wl,-rpath,"$p/lib" 2> "$tmp/cc.err"
check "an external program builds with pkg-config --cflags --libs faceid" test -x "$tmp/example" || cat "$tmp/cc.err" >&2
check "... links the shared library" sh -c "ldd '$tmp/example' | grep -q '$p/lib/libfaceid.so.0'"
check "... and runs on the installed models (same photo: same person)" sh -c "'$tmp/example' '$samples/sample1.jpg' '$samples/sample1.jpg' | tee '$tmp/run' | grep -q 'same person' && grep -q 'models in $p/share/faceid/models' '$tmp/run'"
check "... (two people: different)" sh -c "'$tmp/example' '$samples/sample1.jpg' '$samples/sample3.jpg' | grep -q 'different people'"
# static: libfaceid.a with its dependencies' shared libraries (Debian ships FFmpeg's as .so only,
# so `pkg-config --static` of FFmpeg itself cannot link here)
deps=$(pkg-config --print-requires-private faceid | tr '\n' ' ')
cc -std=c11 -o "$tmp/example_static" "$src/tests/install/example.c" -I"$p/include" "$p/lib/libfaceid.a" \
  $(pkg-config --libs $deps) $(sed -n 's/^Libs.private: //p' "$p/lib/pkgconfig/faceid.pc") -fopenmp 2> "$tmp/cc.err"
check "the static library links (libfaceid.a + its dependencies' shared libraries)" sh -c "test -x '$tmp/example_static' && '$tmp/example_static' '$samples/sample1.jpg' '$samples/sample1.jpg' | grep -q 'same person'" || cat "$tmp/cc.err" >&2

# an external CMake project
cmake -S "$src/tests/install" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$p" > "$tmp/cmake.log" 2>&1 &&
  cmake --build "$tmp/cmake" > "$tmp/cmake.log" 2>&1
check "an external CMake project builds with find_package(faceid)" test -x "$tmp/cmake/example" || cat "$tmp/cmake.log" >&2
check "... and runs" sh -c "LD_LIBRARY_PATH='$p/lib' '$tmp/cmake/example' '$samples/sample1.jpg' '$samples/sample1.jpg' | grep -q 'same person'"

# the Python binding from the installed files alone (no FID_LIBRARY, no FID_MODEL_DIR)
pydir=$(find "$p/lib" -path '*dist-packages' -type d | head -1)
check "python3 -c 'import faceid' from the installed files ($pydir)" sh -c "cd / && PYTHONPATH='$pydir' /usr/bin/python3 -c 'import faceid; print(faceid.version(), faceid.model_dir())' | grep -q '$p/share/faceid/models'"
check "... and it verifies two photos" sh -c "cd / && PYTHONPATH='$pydir' /usr/bin/python3 -c \"import faceid; a = faceid.load_image('$samples/sample1.jpg'); assert faceid.verify(a, a, face_a=0, face_b=0)[0]\""

# uninstall: every file of the manifest goes (make uninstall does this with build/install_manifest.txt)
DESTDIR=$tmp/d cmake --install "$build" --prefix /usr > /dev/null 2>&1
n=$(find "$tmp/d" -type f -o -type l | wc -l)
"$src/scripts/uninstall" "$build/install_manifest.txt" "$tmp/d" > /dev/null
left=$(find "$tmp/d" -type f -o -type l | wc -l)
check "uninstall removes all $n installed files ($left left)" test "$left" = 0
check "... and faceid's own directories" sh -c "! find '$tmp/d' -name faceid | grep -q ."
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
