# staticcall_inline(<target>...) - opt a program or shared library into
# inline call sites (docs/inline.md): the linker keeps the relocations of
# the code in the file (--emit-relocs), where libstaticcall finds the call
# sites of static calls when the module is loaded, and binds PLT slots at
# load time (-z now) so that sites calling a trampoline of another module
# through the PLT can be inlined from the start.  Nothing else changes: the
# flags only add non-loaded sections to the file.
function(staticcall_inline)
  foreach(t ${ARGN})
    get_target_property(type ${t} TYPE)
    if(NOT type MATCHES "^(EXECUTABLE|SHARED_LIBRARY|MODULE_LIBRARY)$")
      message(FATAL_ERROR "staticcall_inline(${t}): an executable or a shared library is needed, not ${type}")
    endif()
    target_link_options(${t} PRIVATE "LINKER:--emit-relocs" "LINKER:-z,now")
  endforeach()
endfunction()
