# Cross build for arm64 (Raspberry Pi 4/5, Jetson, ARM servers) on a Debian amd64 machine:
# Debian's aarch64-linux-gnu-gcc and the arm64 libraries installed through multiarch
# (dpkg --add-architecture arm64; scripts/cross-setup). Tests run under qemu-aarch64-static.
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# the arm64 .pc files only (multiarch keeps them under /usr/lib/aarch64-linux-gnu/pkgconfig)
set(PKG_CONFIG_EXECUTABLE aarch64-linux-gnu-pkg-config CACHE FILEPATH "")
# Look for arm64 libraries, never the build machine's; headers under /usr/include are shared by
# both architectures (multiarch puts what differs under /usr/include/aarch64-linux-gnu).
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH /)
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu)
# oneDNN: Debian's libdnnl2:arm64. Its -dev package cannot be installed beside amd64's
# (dnnl_config.h differs only in the GPU runtime, which faceid does not use), so the amd64
# headers serve and the library is the arm64 runtime itself.
set(DNNL_LIBRARY /usr/lib/aarch64-linux-gnu/libdnnl.so.2 CACHE FILEPATH "")
# Tests run through the emulator, finding arm64's ld.so and libraries through multiarch. It
# emulates a Raspberry Pi 4's Cortex-A72 (NEON, no SVE) by default, so oneDNN takes the paths
# a board takes; qemu's own default CPU has SVE, for which oneDNN has JIT kernels a Pi lacks.
find_program(FID_QEMU qemu-aarch64-static qemu-aarch64)
set(FID_QEMU_CPU cortex-a72 CACHE STRING "The CPU qemu emulates for the tests (max: everything qemu has)")
if(FID_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${FID_QEMU} -cpu ${FID_QEMU_CPU})
endif()
