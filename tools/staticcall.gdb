# gdb settings for programs that use libstaticcall: `source tools/staticcall.gdb`
#
# Only the int3 protocol raises SIGTRAP (static key sites not built with
# STATICCALL_KEYS_TRAPFREE, or STATICCALL_PROTOCOL=int3): the library's own
# SIGTRAP handler emulates the patched instruction.  gdb owns SIGTRAP and
# would stop at every one of those transient int3s; gdb's own breakpoints
# are recognised by their address and are not affected by this setting.
handle SIGTRAP nostop noprint pass
# The mprotect writer (STATICCALL_WRITE=mprotect) makes other threads fault
# for a moment on the page it writes; the library waits those faults out.
# Uncomment when using it:
# handle SIGSEGV nostop noprint pass
