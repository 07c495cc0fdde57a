# faceid — top-level entry points. Every target runs scripts/setup first (idempotent, quiet when
# nothing is missing), so a fresh Debian 12 machine needs nothing but `make demo` / `make test`.
BUILD     ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS      ?= $(shell nproc)
FUZZ_SECONDS ?= 60
export GOMP_SPINCOUNT ?= 10000

.PHONY: all setup setup-peers build test test-asan bench demo serve-demo install uninstall deb test-minimal eval fuzz faults goldens goldens-faces clean cross-arm64 test-arm64 test-arm64-long test-container

all: build

setup:
	@scripts/setup

setup-peers:
	@scripts/setup --peers

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: setup $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure
	$(MAKE) --no-print-directory test-minimal

test-asan: setup
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFID_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure

bench: setup-peers build
	bench/run

demo: build
	scripts/demo

# faceid serve on the demo clips (and ../shared's seed videos): open http://127.0.0.1:8080/
serve-demo: build
	scripts/serve-demo

# Quality on real data (../shared/data): detection recall by face size, enrollment from single
# photos, TAR/FAR by samples per person and probe condition, live naming on synthesized 1080p clips.
eval: setup-peers build
	eval/run

# The long fault-injection run (not in CI): ten times the cases of `make test`'s, plus the load
# checks (recognition net with a core busy, live beside CPU-hungry processes). FAULTS_SEED=N
# repeats a run.
faults: build
	tests/faults_test.sh $(BUILD)/faceid .cache/models long
	/usr/bin/python3 tests/attack_test.py $(BUILD)/faceid .cache/models long

fuzz: setup
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFID_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Regenerate the committed golden outputs from the original JS implementations.
goldens: setup-peers
	NODE_PATH=.cache/peers/node_modules node tests/oracle/golden.js .cache/models tests/golden

# The library alone, without the optional parts (CLI, window, serve, ONNX import, Keras h5): it
# builds and its tests pass.
test-minimal: setup
	cmake -S . -B build-minimal -DFID_WITH_CLI=OFF -DFID_WITH_ONNX=OFF -DFID_WITH_HDF5=OFF -DFID_WITH_POSTGRESQL=OFF > /dev/null
	cmake --build build-minimal -j$(JOBS) > /dev/null
	cd build-minimal && ctest --output-on-failure

# make install [PREFIX=/usr/local] [DESTDIR=...]: the CLI, libfaceid.so/.a, faceid.h, faceid.pc,
# the CMake package and the models; make uninstall removes exactly what was installed.
PREFIX ?= /usr/local
install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)

uninstall:
	scripts/uninstall $(BUILD)/install_manifest.txt $(DESTDIR)

# make deb: the Debian source package and the .debs (faceid, libfaceid0, libfaceid-dev,
# faceid-models, python3-faceid) in out/, built by dpkg-buildpackage and checked by lintian
deb: setup
	scripts/deb out

# arm64 (Raspberry Pi 4/5, Jetson, ARM servers): Debian's cross compiler and arm64 libraries
# (scripts/cross-setup), without the parts whose arm64 -dev packages cannot sit beside amd64's
# (PostgreSQL, Keras h5) and the window. test-arm64 runs the build's test programs (unit, nets
# and faces against their goldens) under qemu-aarch64-static as a Cortex-A72: ~25 min on 2 cores,
# so it is not part of make test; test-arm64-long the rest (detectors, ONNX, precision: hours).
ARM64_BUILD ?= build-arm64
cross-arm64: setup
	scripts/cross-setup
	cmake -S . -B $(ARM64_BUILD) -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFID_WITH_SDL2=OFF -DFID_WITH_HDF5=OFF -DFID_WITH_POSTGRESQL=OFF > /dev/null
	cmake --build $(ARM64_BUILD) -j$(JOBS)

test-arm64: cross-arm64
	cd $(ARM64_BUILD) && ctest -L '^arm64$$' -j$(JOBS) --output-on-failure

test-arm64-long: cross-arm64
	cd $(ARM64_BUILD) && ctest -L '^arm64-long$$' -j$(JOBS) --output-on-failure

# the Containerfile built and run with Debian's podman (tests/container_test.sh; skips in make
# test where no engine is installed)
test-container: setup
	@command -v podman > /dev/null || { apt-get install -y -qq --no-install-recommends podman runc debootstrap > /dev/null; }
	tests/container_test.sh .

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(ARM64_BUILD)

# Regenerate tests/golden/faces/ (face-api on the sample photos, decoded by Pillow), haar.json (OpenCV)
# and the PNG variants with the pixels OpenCV and Pillow read from them.
goldens-faces: setup-peers
	rm -rf build/oracle-raw
	/usr/bin/python3 tests/oracle/decode.py build/oracle-raw .cache/models/samples/*.jpg
	NODE_PATH=.cache/peers/node_modules node tests/oracle/faces.js .cache/models build/oracle-raw tests/golden/faces
	/usr/bin/python3 tests/oracle/png_goldens.py tests/golden/png
	/usr/bin/python3 tests/oracle/haar.py /usr/share/opencv4/haarcascades/haarcascade_frontalface_alt.xml tests/golden/haar/opencv.json .cache/models/samples/*.jpg
