# sc_qemu_skip(<reason> <test>...): tests that cannot run under qemu-user
# (the aarch64 cross build, CMakeLists.txt), registered but disabled there
# (ctest lists them as not run); each with its reason, printed when
# configuring and listed in docs/aarch64.md.  Call it in the directory that
# adds the tests.  Defined at the top level: bench/ adds tests/callgrind
# in a build without the tests.
function(sc_qemu_skip reason)
  if(NOT SC_QEMU)
    return()
  endif()
  foreach(t ${ARGN})
    set_tests_properties(${t} PROPERTIES DISABLED ON)
    message(STATUS "not run under qemu-user: ${t}: ${reason}")
  endforeach()
endfunction()
