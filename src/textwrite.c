/* SPDX-License-Identifier: MIT */
/*
 * Writing bytes into live, read-only code, in place: the int3 protocol's
 * writes (page flips and stores do not come here).
 *
 * First choice: pwrite() to /proc/self/mem.  The kernel writes through its
 * own mapping of the page (breaking copy-on-write for private file pages), so
 * our mapping never changes protection and no page is ever writable and
 * executable.  The descriptor belongs to the mm it was opened in, so a fork
 * child must open its own (or it would patch its parent!).
 *
 * Fallback (when /proc/self/mem is blocked, e.g. by seccomp or a hardened
 * kernel): an mprotect window.  The page goes read+write (never executable
 * while writable), the bytes are stored, and the original protection comes
 * back.  While the window is open, any thread that executes code on that
 * page takes SIGSEGV; our handler recognises the window and waits for it to
 * close, then lets the thread re-run the instruction.  The patching thread
 * blocks every signal for the window, and the window code itself uses no
 * library call, so the patcher can never fault on its own window.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "signals.h"

#ifdef SC_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define VALGRIND_DISCARD_TRANSLATIONS(a, n) ((void)(a), (void)(n))
#endif

static int mem_fd = -1;	   /* under the patch lock */
static bool mem_fd_failed; /* open() failed: do not retry each write */

/* Threads inside sc_segv_handler(): SIGTRAP is blocked there (as in every
 * handler of ours), harmlessly, and the int3 protocol's check of signal
 * masks must not take them for threads that block it. */
static struct sc_marks in_segv;

bool sc_text_in_handler(long tid) { return sc_marks_has(&in_segv, tid); }

static struct sc_sigslot segv_slot;

void sc_text_after_fork(void)
{
	sc_sig_after_fork(&segv_slot);
	for (int i = 0; i < SC_MARK_SLOTS; i++)
		sc_unmark(&in_segv, i);
	if (mem_fd >= 0)
		close(mem_fd);
	mem_fd = -1;
	mem_fd_failed = false;
}

static int write_procmem(void *addr, const void *src, size_t len)
{
	ssize_t n;

	if (mem_fd < 0 && !mem_fd_failed) {
		mem_fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
		if (mem_fd < 0) {
			int e = errno;
			mem_fd_failed = true;
			sc_info("open /proc/self/mem: %s", sc_strerror(e));
			return -e;
		}
	}
	if (mem_fd < 0)
		return -EACCES;
	n = pwrite(mem_fd, src, len, (off_t)(uintptr_t)addr);
	if (n == (ssize_t)len) {
		sc_stat_add(writes_procmem, 1);
		return 0;
	}
	/* A short write of a few bytes inside one page does not happen; if it
	 * ever did, the caller restores the site from its copy of the bytes. */
	return n < 0 ? -errno : -EIO;
}

/* ---------------------------------------------------------------------- */

static _Atomic uintptr_t window_lo, window_hi; /* open mprotect window */
static _Atomic unsigned long window_seq;       /* bumped at open and close */

/* Every range a window was ever opened on (append-only, under the patch
 * lock; read by the handler).  Past SC_WINDOWED ranges, any page counts. */
#define SC_WINDOWED 64
static _Atomic uintptr_t windowed_lo[SC_WINDOWED], windowed_hi[SC_WINDOWED];
static _Atomic unsigned int windowed_n;

static void windowed_add(uintptr_t lo, uintptr_t hi)
{
	unsigned int n = atomic_load(&windowed_n);

	for (unsigned int i = 0; i < n; i++)
		if (atomic_load(&windowed_lo[i]) == lo &&
		    atomic_load(&windowed_hi[i]) == hi)
			return;
	if (n < SC_WINDOWED) {
		atomic_store(&windowed_lo[n], lo);
		atomic_store(&windowed_hi[n], hi);
	}
	atomic_store(&windowed_n, n + 1);
}

static SC_SIGNAL_CODE bool was_windowed(uintptr_t a)
{
	unsigned int n = atomic_load(&windowed_n);

	if (n > SC_WINDOWED)
		return true;
	for (unsigned int i = 0; i < n; i++)
		if (a >= atomic_load(&windowed_lo[i]) &&
		    a < atomic_load(&windowed_hi[i]))
			return true;
	return false;
}

static SC_SIGNAL_CODE bool in_window(uintptr_t a)
{
	return a >= atomic_load(&window_lo) && a < atomic_load(&window_hi);
}

SC_HIDDEN void sc_segv_handler(int sig, siginfo_t *si, void *uc);
SC_HIDDEN void sc_segv_entry(int sig, siginfo_t *si, void *uc);
SC_ARCH_SIG_ENTRY(sc_segv_entry, sc_segv_handler);
static struct sc_sigslot segv_slot = {.sig = SIGSEGV, .entry = sc_segv_entry};

/*
 * A fault on a window page: wait while the window is open, then re-run the
 * instruction.  The fault may also be handled only after its window closed
 * (the thread was preempted between fault and handler), and after other
 * windows, on other pages, opened and closed: an instruction fetch (fault
 * address == pc) on a page we ever opened a window on, executable again
 * now, is re-run too.  If that page is not executable and no window of
 * ours opened or closed meanwhile, the fault is not ours: like any other,
 * it goes to the application's handler.
 */
static SC_SIGNAL_CODE bool segv_ours(siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	while (si->si_code == SEGV_ACCERR) {
		unsigned long seq = atomic_load(&window_seq);
		int prot = 0;

		if (in_window(a)) {
			sc_stat_add(segv_waits, 1);
			while (in_window(a))
				syscall(SYS_sched_yield);
			return true; /* re-run the faulting instruction */
		}
		if (a != sc_arch_pc(uc) || !was_windowed(a))
			break;
		uintptr_t lo, hi;
		if (sc_os_mapping((void *)a, &lo, &hi, &prot) == 0 &&
		    (prot & PROT_EXEC)) {
			sc_stat_add(segv_waits, 1);
			return true; /* a window closed since the fault */
		}
		if (atomic_load(&window_seq) == seq)
			break;
	}
	return false;
}

SC_SIGNAL_CODE void sc_segv_handler(int sig, siginfo_t *si, void *uc)
{
	int slot;
	bool ours;

	if (sc_sig_answer(&segv_slot, si, uc))
		return; /* another copy of the library asked */
	slot = sc_mark(&in_segv, sc_gettid(),
		       (uintptr_t)__builtin_frame_address(0));
	ours = segv_ours(si, uc);

	sc_unmark(&in_segv, slot);
	if (!ours)
		sc_sig_chain(sig, si, uc, &segv_slot);
}

static inline __attribute__((always_inline)) long
raw_mprotect(uintptr_t a, size_t len, int prot)
{
	return sc_arch_syscall3(SYS_mprotect, (long)a, (long)len, prot);
}

/*
 * The window itself: no calls (libc may share the page in a static
 * executable), inline system calls, a plain copy: aligned 8-byte words as
 * one store each (a data word of a site may be read while it is written:
 * int3.c, tail_range()), then aligned 4-byte units as one store each (an
 * A64 instruction, a BRK written over a live B or the new B over the BRK,
 * may only change by one single-copy atomic write while other threads run
 * it: docs/aarch64.md), the rest byte by byte.
 */
typedef uint64_t __attribute__((may_alias, aligned(1))) sc_u64_unaligned;
typedef uint32_t __attribute__((may_alias, aligned(1))) sc_u32_unaligned;

static inline __attribute__((always_inline)) void
copy_code(uint8_t *dst, const uint8_t *src, size_t len)
{
	for (size_t i = 0; i < len;) {
		if ((uintptr_t)(dst + i) % 8 == 0 && len - i >= 8) {
			*(volatile uint64_t *)(void *)(dst + i) =
				*(const sc_u64_unaligned *)(src + i);
			i += 8;
		} else if ((uintptr_t)(dst + i) % 4 == 0 && len - i >= 4) {
			*(volatile uint32_t *)(void *)(dst + i) =
				*(const sc_u32_unaligned *)(src + i);
			i += 4;
		} else {
			((volatile uint8_t *)dst)[i] = src[i];
			i++;
		}
	}
}

static SC_CODE_WRITER __attribute__((noinline)) long
mprotect_window(uintptr_t page, size_t size, int prot, uint8_t *dst,
		const uint8_t *src, size_t len)
{
	long err = raw_mprotect(page, size, PROT_READ | PROT_WRITE);

	if (err)
		return err;
	copy_code(dst, src, len);
	return raw_mprotect(page, size, prot);
}

static int write_mprotect(void *addr, const void *src, size_t len)
{
	long ps = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)addr;
	uintptr_t page = a & ~(uintptr_t)(ps - 1);
	size_t size = ((a + len + ps - 1) & ~(uintptr_t)(ps - 1)) - page;
	uintptr_t self = (uintptr_t)&mprotect_window, lo, hi;
	sigset_t all, old;
	int prot = 0, err;
	long r;

	err = sc_os_mapping((void *)page, &lo, &hi, &prot);
	if (!err && page + size > hi)
		err = -EFAULT; /* spans mappings */
	if (err)
		return err;
	if (self + 512 > page && self < page + size) {
		sc_warn("mprotect write at %p: the page holds the writer "
			"itself",
			addr);
		return -EBUSY;
	}
	err = sc_sig_take(&segv_slot);
	if (err)
		return err;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	windowed_add(page, page + size);
	atomic_store(&window_hi, page + size);
	atomic_store(&window_lo, page);
	atomic_fetch_add(&window_seq, 1);
	r = mprotect_window(page, size, prot, addr, src, len);
	atomic_store(&window_lo, 0);
	atomic_store(&window_hi, 0);
	atomic_fetch_add(&window_seq, 1);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		/* The restoring mprotect cannot fail after the first succeeded
		 * (same range, same VMA); still, never leave it writable. */
		if (raw_mprotect(page, size, prot) != 0)
			sc_warn("mprotect restore failed at %p", addr);
		return (int)r;
	}
	sc_stat_add(writes_mprotect, 1);
	return 0;
}

int sc_text_write(void *addr, const void *src, size_t len)
{
	int err = 0;
	uint8_t *rw = sc_store_view(addr, len, &err);

	if (err)
		return err; /* a page we may not write (fork) */
	err = rw ? 0 : sc_flip_write(addr, src, len);
	if (err < 0)
		return err;
	if (err > 0) {
		sc_stat_add(writes_view, 1);
		err = 0;
		goto out;
	}
	if (rw) {
		/* a page with a writable view: plain stores through it */
		copy_code(rw, src, len);
		sc_stat_add(writes_view, 1);
		err = 0;
		goto out;
	}
	sc_flip_before_inplace(addr, len);
	if (sc_opt.write != SC_WRITE_MPROTECT)
		err = write_procmem(addr, src, len);
	if (sc_opt.write == SC_WRITE_MPROTECT ||
	    (err && sc_opt.write == SC_WRITE_AUTO)) {
		err = write_mprotect(addr, src, len);
		if (err)
			sc_warn("cannot write code at %p: %s", addr,
				sc_strerror(-err));
	}
	/* written in place: a flipped page's copy follows */
	if (!err)
		sc_flip_wrote(addr, src, len);
out:
	if (!err) {
		/* What the instruction cache needs after a store to code (a
		 * no-op on x86-64).  On aarch64 the kernel does it for
		 * /proc/self/mem (copy_to_user_page()) but not for our stores
		 * through a view or the mprotect window, nor for a pwrite()
		 * into a memfd page that is already mapped as code. */
		sc_arch_flush_icache(addr, len);
		/* valgrind runs translated copies of the code; a client
		 * request (a no-op sequence on real hardware) drops them. */
		VALGRIND_DISCARD_TRANSLATIONS(addr, len);
		sc_stat_add(bytes_written, len);
	}
	return err;
}
