# CMake toolchain for aarch64 Linux boards (Atlas 200I/500 A2, Kunpeng hosts)
# with Debian's cross compiler (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross):
#
#   cmake -S . -B build/board/c -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#
# scripts/build-board.sh uses it for the shim's C tests and the fake
# libascendcl. When qemu-aarch64 is installed, ctest runs the cross-built
# tests under it (CMAKE_CROSSCOMPILING_EMULATOR), with the aarch64 C library
# from the cross sysroot.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(AMQ_SYSROOT /usr/aarch64-linux-gnu CACHE PATH "aarch64 C library (Debian's libc6-dev-arm64-cross)")
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH ${AMQ_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
find_program(AMQ_QEMU_AARCH64 qemu-aarch64)
if(AMQ_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${AMQ_QEMU_AARCH64} -L ${AMQ_SYSROOT})
endif()
