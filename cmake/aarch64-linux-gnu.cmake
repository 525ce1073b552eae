# Cross-building for aarch64 Linux with Debian's cross compilers
# (gcc-aarch64-linux-gnu, g++-aarch64-linux-gnu), every program run under
# qemu-user: ctest, and the tests that start a program themselves, go
# through CMAKE_CROSSCOMPILING_EMULATOR.  tools/run-tests aarch64 uses it;
# docs/aarch64.md says what runs and what does not.
#
#   cmake -S . -B build/aarch64 \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#
# STATICCALL_CROSS_ROOT (default /opt/staticcall-cross/aarch64, where
# tools/deps unpacks them): Debian's arm64 cmocka packages for the tests,
# and a qemu-aarch64 of 8.1 or later if the system's is older.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(SC_CROSS_TRIPLE aarch64-linux-gnu)
# gcc unless told otherwise (clang: -DCMAKE_C_COMPILER=clang
# -DCMAKE_CXX_COMPILER=clang++, which target aarch64-linux-gnu then)
if(NOT CMAKE_C_COMPILER)
  set(CMAKE_C_COMPILER ${SC_CROSS_TRIPLE}-gcc)
endif()
if(NOT CMAKE_CXX_COMPILER)
  set(CMAKE_CXX_COMPILER ${SC_CROSS_TRIPLE}-g++)
endif()
set(CMAKE_C_COMPILER_TARGET ${SC_CROSS_TRIPLE})
set(CMAKE_CXX_COMPILER_TARGET ${SC_CROSS_TRIPLE})
set(SC_CROSS_SYSROOT /usr/${SC_CROSS_TRIPLE})

if(NOT DEFINED STATICCALL_CROSS_ROOT)
  set(STATICCALL_CROSS_ROOT "$ENV{STATICCALL_CROSS_ROOT}")
endif()
if(NOT STATICCALL_CROSS_ROOT)
  set(STATICCALL_CROSS_ROOT /opt/staticcall-cross/aarch64)
endif()

# qemu-user, with the cross toolchain's libraries as the target's root.
find_program(SC_QEMU NAMES qemu-aarch64
  PATHS ${STATICCALL_CROSS_ROOT}/usr/bin NO_DEFAULT_PATH)
find_program(SC_QEMU NAMES qemu-aarch64 qemu-aarch64-static)
if(SC_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SC_QEMU} -L ${SC_CROSS_SYSROOT})
endif()

# pkg-config finds the target's packages only (cmocka.pc of the unpacked
# arm64 package), with their paths under STATICCALL_CROSS_ROOT.
set(ENV{PKG_CONFIG_LIBDIR} ${STATICCALL_CROSS_ROOT}/usr/lib/${SC_CROSS_TRIPLE}/pkgconfig)
set(ENV{PKG_CONFIG_SYSROOT_DIR} ${STATICCALL_CROSS_ROOT})
set(ENV{PKG_CONFIG_PATH} "")

set(CMAKE_FIND_ROOT_PATH ${SC_CROSS_SYSROOT} ${STATICCALL_CROSS_ROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# packages also at the host paths given (CMAKE_PREFIX_PATH: an install
# prefix of this library, tests/install)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
