# A cross build whose programs run under qemu-user (the toolchain file,
# cmake/aarch64-linux-gnu.cmake, finds SC_QEMU): every program, test or
# not, runs through one wrapper, ${PROJECT_BINARY_DIR}/qemu-run, which
# CMAKE_CROSSCOMPILING_EMULATOR names (so ctest uses it) and SC_EMULATOR_CMD
# gives to the test scripts that start programs themselves.
#
# qemu 8.1 is the first whose translations are dropped when a program
# writes code in place and executes IC IVAU; an older one would run stale
# code (docs/aarch64.md): refuse it here rather than fail tests later.
execute_process(COMMAND ${SC_QEMU} --version OUTPUT_VARIABLE sc_qemu_out
  ERROR_QUIET)
string(REGEX MATCH "version ([0-9]+)\\.([0-9]+)" sc_qemu_v "${sc_qemu_out}")
if(NOT sc_qemu_v OR CMAKE_MATCH_1 LESS 8
   OR (CMAKE_MATCH_1 EQUAL 8 AND CMAKE_MATCH_2 LESS 1))
  message(FATAL_ERROR "libstaticcall: ${SC_QEMU} is not qemu 8.1 or later "
    "(${sc_qemu_v}); tools/deps fetches one (docs/aarch64.md)")
endif()
set(SC_EMULATOR_CMD ${PROJECT_BINARY_DIR}/qemu-run)
configure_file(${CMAKE_CURRENT_LIST_DIR}/qemu-run.in ${SC_EMULATOR_CMD}
  @ONLY FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
  GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(CMAKE_CROSSCOMPILING_EMULATOR ${SC_EMULATOR_CMD})
message(STATUS "libstaticcall: programs run under ${SC_EMULATOR_CMD} "
  "(${sc_qemu_v})")
