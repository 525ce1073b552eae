/* SPDX-License-Identifier: MIT */
/*
 * Internal interfaces of libstaticcall.  Everything here has hidden
 * visibility (the library is built with -fvisibility=hidden) and an sc_
 * prefix.  The patch protocol itself is described once, in docs/design.md
 * and above sc_poke_batch() in poke.c.
 */
#ifndef SC_INTERNAL_H
#define SC_INTERNAL_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "staticcall.h"

#define SC_HIDDEN __attribute__((visibility("hidden")))
#define SC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* Code that runs in a signal handler on an arbitrary interrupted context:
 * keep sanitizers' bookkeeping out of it. */
#define SC_SIGNAL_CODE                                                         \
	__attribute__((no_sanitize("address", "undefined", "thread")))
/* Code that stores into code pages while they are writable (the mprotect
 * window): no sanitizer instrumentation at all, not even a call into the
 * runtime, which could sit on the page that is not executable for the
 * moment.  ThreadSanitizer also keeps the shadow of the program's code
 * read-only (code cannot race, it assumes), so an instrumented store to
 * code faults inside the runtime.  What orders these bytes for the threads
 * that run them is the protocol's membarrier, which no sanitizer sees. */
#if defined(__has_attribute)
#if __has_attribute(disable_sanitizer_instrumentation) /* clang 14 */
#define SC_CODE_WRITER __attribute__((disable_sanitizer_instrumentation))
#endif
#endif
#ifndef SC_CODE_WRITER
#define SC_CODE_WRITER __attribute__((no_sanitize("thread")))
#endif

/* ------------------------------------------------------------------------
 * One patch: a site of up to SC_POKE_MAX bytes, its old and new bytes, and
 * how a thread that traps on it in the window must be handled.
 * ------------------------------------------------------------------------ */
#define SC_POKE_MAX 16

enum sc_emu {
	SC_EMU_JMP = 1, /* continue at target */
	SC_EMU_CALL,	/* push addr + len, continue at target */
	SC_EMU_NOP,	/* continue at addr + len */
	SC_EMU_RET,	/* pop the return address and continue there */
	SC_EMU_RET0,	/* return 0: clear the return register, then RET */
	SC_EMU_ZERO,	/* clear the return register, continue at addr + len */
};

struct sc_poke {
	uint8_t *addr;
	uintptr_t target; /* for JMP/CALL emulation */
	uint8_t len;	  /* bytes that may change, 1..SC_POKE_MAX */
	uint8_t emu;	  /* enum sc_emu: behaviour of the new bytes */
	uint8_t skip;	  /* nothing to write (new == old) */
	uint8_t kind;	  /* as a batch request: enum sc_req */
	unsigned int seq; /* as a batch request: order, for duplicates */
	uint8_t *rw;	  /* writable view of addr: trap-free update */
	uint8_t old[SC_POKE_MAX];
	uint8_t new[SC_POKE_MAX];
	void *owner; /* struct static_call_key or struct static_key */
	void *value; /* new target, or (intptr_t) new key count */
};

/* What a batch entry asks for. */
enum sc_req {
	SC_REQ_CALL = 1, /* retarget a static call */
	SC_REQ_KEY,	 /* set a static key's count */
	SC_REQ_SITE,	 /* (a poke, not a request) an inline call site */
};

/* An inline call site (sites.c): a call or jmp to a trampoline, found in
 * a module's relocations, validated, and since then owned by the library. */
struct sc_site {
	uint8_t *addr;	      /* the instruction */
	uintptr_t orig;	      /* where it went as compiled: trampoline or PLT */
	uintptr_t tramp;      /* the trampoline it reaches; 0 while its PLT slot
			  * is not bound yet */
	const uintptr_t *got; /* that PLT slot, or NULL (direct) */
	uint8_t tail;	      /* a jmp (tail call), not a call */
	uint8_t cur[5];	      /* the bytes the library last wrote there */
};

/* ------------------------------------------------------------------------
 * Runtime (runtime.c): lazy one-time setup, the patch lock, fork handling.
 * ------------------------------------------------------------------------ */

/* Take the process-wide patch lock.  -EDEADLK if this thread holds it (an
 * update from a signal handler or from the trace hook inside an update). */
SC_HIDDEN int sc_lock(void);
SC_HIDDEN void sc_unlock(void);
/* With the lock held: install the trap handler, register membarrier, notice
 * a fork.  Idempotent and cheap after the first call. */
SC_HIDDEN int sc_runtime_prepare(void);
SC_HIDDEN long sc_gettid(void);

/* ------------------------------------------------------------------------
 * Cross-core synchronisation (sync.c)
 * ------------------------------------------------------------------------ */
SC_HIDDEN int sc_sync_init(void);
/* 0 if sc_sync_cores() can work now; checked before the first write. */
SC_HIDDEN int sc_sync_usable(void);
/* Every thread of the process executes a serialising instruction before it
 * next runs user code; the caller too.  0 or -errno. */
SC_HIDDEN int sc_sync_cores(void);
SC_HIDDEN void sc_sync_after_fork(void);

/* ------------------------------------------------------------------------
 * Writing code (textwrite.c)
 * ------------------------------------------------------------------------ */
enum sc_write_method {
	SC_WRITE_AUTO = 0, /* /proc/self/mem, falling back to mprotect */
	SC_WRITE_PROCMEM,  /* /proc/self/mem only */
	SC_WRITE_MPROTECT, /* mprotect window only */
};
SC_HIDDEN void sc_text_set_method(enum sc_write_method m);
/* Write @len bytes at @addr in a mapped, executable page.  0 or -errno;
 * nothing is written on error. */
SC_HIDDEN int sc_text_write(void *addr, const void *src, size_t len);
/* The trap-free write through a writable view @rw of @addr: every aligned
 * 8-byte word of [0, len) that differs between @old and @new is stored with
 * one atomic store, the word at offset 0 (the live instruction) last. */
SC_HIDDEN void sc_text_store_words(uint8_t *addr, uint8_t *rw,
				   const uint8_t *old, const uint8_t *new,
				   size_t len);
SC_HIDDEN void sc_text_after_fork(void);
/* Is thread @tid running our SIGSEGV handler (waiting out a window)? */
SC_HIDDEN bool sc_text_in_handler(long tid);

/* Look up the mapping holding [addr, addr+len): 0 and its PROT_* bits, or
 * -EFAULT if the range is not mapped by one mapping.  Async-signal-safe. */
SC_HIDDEN int sc_mem_prot(const void *addr, size_t len, int *prot);

/* ------------------------------------------------------------------------
 * Writable views of trampoline pages (alias.c)
 * ------------------------------------------------------------------------ */
/* The writable address of [addr, addr+len) (within one page), creating the
 * page's second view on first use.  -EIO if the page may not be written at
 * all (still shared with a fork child); other errors mean "use int3". */
SC_HIDDEN int sc_alias_get(void *addr, size_t len, uint8_t **rw);
SC_HIDDEN void sc_alias_after_fork(void);
/* The loaded segments of the module that holds @anchor; 0 or -ENOENT. */
#define SC_MODULE_RANGES 16
struct sc_module_ranges {
	uintptr_t anchor;
	uintptr_t lo[SC_MODULE_RANGES], hi[SC_MODULE_RANGES];
	int n;
};
SC_HIDDEN int sc_module_ranges(const void *anchor, struct sc_module_ranges *r);
/* Drop the views of every page in @r (a module being unloaded). */
SC_HIDDEN void sc_alias_forget(const struct sc_module_ranges *r);
/* The writable view of [addr, addr+len) if its page has one, else NULL.
 * Such a page is a shared mapping, which /proc/self/mem cannot write:
 * every write to it goes through the view. */
SC_HIDDEN uint8_t *sc_alias_lookup(const void *addr, size_t len);

/* ------------------------------------------------------------------------
 * Options (options.c) and threads (threads.c)
 * ------------------------------------------------------------------------ */
enum sc_protocol {
	SC_PROTO_AUTO = 0, /* trap-free where a writable view exists */
	SC_PROTO_INT3,	   /* always the int3 protocol */
};
SC_HIDDEN extern enum sc_protocol sc_protocol;
SC_HIDDEN extern bool sc_sigtrap_check;
SC_HIDDEN extern bool sc_perf_map;
/* The default printer's level from a name (warn, info, debug, off). */
SC_HIDDEN int sc_log_set_level(const char *name);
SC_HIDDEN void sc_options_from_env(void);
/* A decimal number at *s (advanced past it); -1 if there is none. */
SC_HIDDEN long sc_parse_dec(const char **s);
/* Field @field (numbered as in proc(5)) of a /proc stat file; -1 if
 * unreadable.  Plain system calls only (async-signal-safe). */
SC_HIDDEN long sc_proc_stat_field(const char *path, int field);
/* The tid of a thread that has SIGTRAP blocked, 0 if none, or -errno. */
SC_HIDDEN long sc_sigtrap_blocker(void);

/* ------------------------------------------------------------------------
 * The trap side (trap.c)
 * ------------------------------------------------------------------------ */
SC_HIDDEN int sc_trap_install(void);
/* Make @pokes (sorted by address) visible to the SIGTRAP handler. */
SC_HIDDEN void sc_trap_publish(struct sc_poke *pokes, size_t n);
/* Hide the batch and wait until no handler still reads it. */
SC_HIDDEN void sc_trap_unpublish(void);
/* Wait until no SIGTRAP handler of ours is emulating anything. */
SC_HIDDEN void sc_trap_quiesce(void);
/* In a fork child: forget the parent's other threads' handler state. */
SC_HIDDEN void sc_trap_after_fork(void);
/* Is thread @tid running our SIGTRAP handler right now? */
SC_HIDDEN bool sc_trap_in_handler(long tid);

/* The set of every address the library has ever patched: lets the handler
 * tell a late trap on one of our sites from somebody else's int3. */
SC_HIDDEN int sc_siteset_add(const void *addr);
SC_HIDDEN bool sc_siteset_contains(const void *addr);
/* Forget the sites in [lo, hi) (their module is being unloaded). */
SC_HIDDEN void sc_siteset_forget(uintptr_t lo, uintptr_t hi);

/* ------------------------------------------------------------------------
 * Sorting (sort.c): an in-place heap sort, no allocation (async-signal-safe).
 * ------------------------------------------------------------------------ */
struct sc_sort_ops {
	size_t size;				     /* of an element */
	bool (*less)(const void *a, const void *b);  /* strict order */
	void (*swap)(void *a, void *b, size_t size); /* NULL: swap bytes */
};
SC_HIDDEN void sc_sort(void *base, size_t n, const struct sc_sort_ops *ops);

/* ------------------------------------------------------------------------
 * The protocol (poke.c)
 * ------------------------------------------------------------------------ */
/* Sort @pokes by address, then seq (in place, no allocation). */
SC_HIDDEN void sc_poke_sort(struct sc_poke *pokes, size_t n);
/* Run the int3 protocol over @pokes: lock held, sorted, verified, distinct
 * addresses; entries marked skip are left alone.  0, or -errno with every
 * site restored. */
SC_HIDDEN int sc_poke_batch(struct sc_poke *pokes, size_t n);
/* A site of a batch that could not be restored after a failed write, kept
 * published for good; NULL normally.  Async-signal-safe. */
SC_HIDDEN const struct sc_poke *sc_poke_find_pinned(uintptr_t site);
/* Has any batch been pinned?  From then on, requests that change no code
 * still have their sites checked (a pinned site is not what the state of
 * its static call or key says). */
SC_HIDDEN bool sc_poke_pinned_any(void);

/* ------------------------------------------------------------------------
 * Requests (batch.c, static_call.c, jump_label.c)
 * ------------------------------------------------------------------------ */
/* Grow the mmap-backed array *@v of *@cap elements of @size bytes (holding
 * @n) to at least @min (doubling); 0 or -ENOMEM.  mmap, not malloc: updates
 * may come from signal handlers. */
SC_HIDDEN int sc_array_grow(void **v, size_t *cap, size_t n, size_t size,
			    size_t min);

/* A growable array of pokes, mmap-backed (no malloc on the update path). */
struct sc_pokes {
	struct sc_poke *v;
	size_t n, cap;
};
SC_HIDDEN struct sc_poke *sc_pokes_add(struct sc_pokes *ps);

/* Apply @n requests (static calls and keys) as one patch.  Takes the lock. */
SC_HIDDEN int sc_commit(struct sc_poke *reqs, size_t n);
/* The work array of pokes (lock held), and patching all of it as one
 * verified batch. */
SC_HIDDEN struct sc_pokes *sc_work(void);
/* Commits so far (lock held): what a commit may cache is valid while it
 * does not change. */
SC_HIDDEN extern unsigned long sc_commit_seq;
SC_HIDDEN int sc_work_patch(void);
/* One request: kind, owner, value, mode (->target). */
SC_HIDDEN int sc_commit_one(enum sc_req kind, void *owner, void *value,
			    uintptr_t mode);
/* Lock held: turn a static call request into its trampoline poke (in
 * place); 0 or -errno. */
SC_HIDDEN int sc_call_prepare(struct sc_poke *req);
SC_HIDDEN void sc_call_done(const struct sc_poke *req);
/* Lock held: append the pokes for a static key request (jump_label.c). */
SC_HIDDEN int sc_key_prepare(struct sc_poke *req, struct sc_pokes *out);
SC_HIDDEN void sc_key_done(const struct sc_poke *req);
/* Lock held: append the pokes that move every inline site of @key to
 * @func (sites.c); record a patched site's new bytes.  Pending sites join
 * their trampolines in sc_sites_resolve(), which a batch calls for all its
 * static calls before the first sc_sites_prepare(). */
SC_HIDDEN void sc_sites_resolve(struct static_call_key *key);
SC_HIDDEN int sc_sites_prepare(struct static_call_key *key, void *func,
			       struct sc_pokes *out);
SC_HIDDEN void sc_site_done(const struct sc_poke *p);
/* Lock held: find, check and bring inline the call sites of the module
 * holding @anchor (if it was linked with --emit-relocs); forget them. */
SC_HIDDEN int sc_sites_module_load(const void *anchor);
SC_HIDDEN void sc_sites_module_unload(const void *anchor);
SC_HIDDEN extern bool sc_inline;
/* Bytes as "0f 1f 44 00 00" into @out (3 * n chars). */
SC_HIDDEN void sc_hexdump(char *out, const uint8_t *b, size_t n);
/* The range and protection of the mapping holding @addr (async-signal-safe). */
SC_HIDDEN int sc_mem_range(const void *addr, uintptr_t *lo, uintptr_t *hi,
			   int *prot);

/* ------------------------------------------------------------------------
 * Diagnostics (log.c, stats)
 * ------------------------------------------------------------------------ */
SC_HIDDEN void sc_log(enum static_call_print_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define sc_warn(...) sc_log(STATIC_CALL_WARN, __VA_ARGS__)
#define sc_info(...) sc_log(STATIC_CALL_INFO, __VA_ARGS__)
#define sc_debug(...) sc_log(STATIC_CALL_DEBUG, __VA_ARGS__)
/*
 * Everything on the message path is async-signal-safe (updates are, and
 * they log): no stdio, no allocation, no locale.  sc_log() formats nothing
 * when the message would be dropped (no print callback, or the default
 * printer and a level above STATICCALL_LOG's).
 *
 * sc_format(): snprintf() on @buf as far as the library
 * needs it: %d %i %u %x %X %o %c %s %p %% with the flags - 0 + space #,
 * a width and a precision (digits or *), and the lengths hh h l ll z t j.
 * No floating point, no %n.  Always NUL-terminates (size > 0); returns the
 * length the whole text would have, as snprintf() does.  %s of NULL prints
 * "(null)", %p of NULL "(nil)"; with a precision, %s reads no further.
 *
 * sc_strerror(): "EILSEQ (illegal byte sequence)" for the errnos the
 * library and the system calls it makes return, "errno 123" for others;
 * @errnum or -@errnum.  The text of an unknown number lives in one of 4
 * buffers per thread (valid until that thread's 4th later unknown number);
 * the others are constants.  Use it instead of strerror() everywhere.
 */
SC_HIDDEN int sc_format(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
SC_HIDDEN const char *sc_strerror(int errnum);
/* Messages sc_log() formatted so far (for tests: dropped ones are not). */
SC_HIDDEN extern _Atomic unsigned long sc_log_formatted;

struct sc_stats {
#define SC_STAT_ATOMIC(n) _Atomic unsigned long long n;
	STATIC_CALL_STATS(SC_STAT_ATOMIC)
#undef SC_STAT_ATOMIC
};
SC_HIDDEN extern struct sc_stats sc_stats;
#define sc_stat_add(field, v)                                                  \
	atomic_fetch_add_explicit(&sc_stats.field, (v), memory_order_relaxed)

/* Read an environment variable safely before/after main. */
SC_HIDDEN const char *sc_getenv(const char *name);

/* The mark of our signal handlers' entries (signals.h): "callsig1". */
#define SC_SIG_MAGIC 0x316769736c6c6163

#include "arch/arch.h"

#endif /* SC_INTERNAL_H */
