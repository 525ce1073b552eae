# gdb settings for programs that use libstaticcall:
#   (gdb) source tools/staticcall.gdb        or   gdb -x tools/staticcall.gdb ...
# Needs gdb with Python (Debian's and Fedora's have it); tested with gdb 13
# on x86-64 Linux, all-stop mode (the default), by tests/gdb (ctest).
#
# Only the int3 protocol raises SIGTRAP (STATICCALL_PROTOCOL=int3, static
# key and inline call sites where it is used): a thread that runs into a
# site while it holds the transient int3 gets SIGTRAP, and the library's
# handler emulates the site's new instruction.  gdb stops at each of those
# by default ("Program received signal SIGTRAP").
#
# Do NOT use `handle SIGTRAP nostop noprint pass`: gdb then also passes the
# SIGTRAP of its own breakpoints to the program (gdb 13 does so for the
# dynamic linker's breakpoint it sets at start-up), which kills even
# /bin/true before main.
#
# What this does instead: a catchpoint on SIGTRAP whose condition (Python)
# looks at every SIGTRAP and never stops.  For a trap of the program (an
# int3 that is not one of gdb's breakpoints, or a SIGTRAP sent with kill,
# raise or tgkill) it puts the PC back where the kernel left it (gdb's
# Linux layer backs it up over the int3) and sets SIGTRAP to `pass`, so the
# program's handler gets it, as it would without gdb; for anything of gdb's
# (breakpoints, single steps) it sets `nopass`.  An int3 that is gone by
# the time gdb looks (the library finished the patch meanwhile) is not
# passed: the thread runs the site again, now holding the new instruction.
#
# Limits: do not single-step inside a SIGTRAP handler that blocks SIGTRAP
# (the library's does): Linux then resets that handler to the default
# action, and the next trap kills the program.  `step`/`next` over a site
# that traps are fine (the handler has no line info; gdb runs it freely).
# Each trap costs a stop and a resume of the thread (tens of microseconds).

python
import re

import gdb


class _StaticcallTraps:
    def __init__(self):
        self.passing = None
        self.passed_at = None  # (thread, pc) of the last trap passed on

    def handle(self, how):
        """`handle SIGTRAP <how>`, without the confirmation query."""
        if self.passing == how:
            return
        confirm = gdb.parameter("confirm")
        gdb.execute("set confirm off", to_string=True)
        try:
            gdb.execute("handle SIGTRAP " + how, to_string=True)
        finally:
            if confirm:
                gdb.execute("set confirm on", to_string=True)
        self.passing = how

    @staticmethod
    def gdb_breakpoint_at(pc):
        """Has gdb a breakpoint of its own (user or internal) at pc?"""
        out = gdb.execute("maint info breakpoints", to_string=True)
        for line in out.splitlines():
            m = re.search(r"\s0x([0-9a-fA-F]+)\s", line)
            if m and int(m.group(1), 16) == pc:
                return True
        return False

    def programs_trap(self):
        """True if the SIGTRAP gdb is looking at belongs to the program;
        the PC is then where the kernel reported it."""
        code = int(gdb.parse_and_eval("$_siginfo.si_code"))
        if code <= 0:  # SI_USER, SI_TKILL, SI_QUEUE: sent by the program
            return True
        if code != 0x80:  # SI_KERNEL is an int3; anything else is gdb's
            return False
        pc = int(gdb.parse_and_eval("$pc"))  # backed up over the int3
        if self.gdb_breakpoint_at(pc):
            return False
        inf = gdb.selected_inferior()
        if inf.read_memory(pc, 1).tobytes()[0] != 0xCC:
            return False  # the int3 is gone: run the site again
        gdb.execute("set $pc = %d" % (pc + 1), to_string=True)
        self.passed_at = (gdb.selected_thread().ptid, pc + 1)
        return True


_staticcall_traps = _StaticcallTraps()


class _StaticcallSigtrap(gdb.Function):
    """$_staticcall_sigtrap(): the condition of the SIGTRAP catchpoint of
    tools/staticcall.gdb.  Decides whether the SIGTRAP goes to the program,
    and returns 0: the catchpoint itself never stops."""

    def __init__(self):
        super().__init__("_staticcall_sigtrap")

    def invoke(self):
        _staticcall_traps.passed_at = None
        mine = _staticcall_traps.programs_trap()
        _staticcall_traps.handle("pass" if mine else "nopass")
        return 0


def _staticcall_stopped(event):
    # A stop shown to the user: the resume that follows passes the SIGTRAP
    # of the thread that stopped only if it is a trap of the program that
    # was not delivered yet (a `stepi` onto the int3 ends right after the
    # PC was set past it, with the signal still to deliver).
    t = gdb.selected_thread()
    here = None
    if t is not None:
        here = (t.ptid, int(gdb.parse_and_eval("$pc")))
    if here is None or here != _staticcall_traps.passed_at:
        _staticcall_traps.handle("nopass")
    _staticcall_traps.passed_at = None


_StaticcallSigtrap()
gdb.events.stop.connect(_staticcall_stopped)
_staticcall_traps.handle("nostop noprint nopass")
end
catch signal SIGTRAP
condition $bpnum $_staticcall_sigtrap()

# The mprotect writer (STATICCALL_WRITE=mprotect) makes other threads fault
# for a moment on the page it writes; the library waits those faults out.
# gdb does not use SIGSEGV itself, so plain `pass` works; but with this
# line gdb no longer stops at a real crash either.  Uncomment when using it:
# handle SIGSEGV nostop noprint pass
