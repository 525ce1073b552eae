/* SPDX-License-Identifier: MIT */
/*
 * Internal interfaces of libstaticcall, from the bottom layer up.  Every
 * name has hidden visibility (the library is built with -fvisibility=hidden)
 * and an sc_ prefix.  Arrows point down only:
 *
 *   public API and kinds   static_call.c (static calls), jump_label.c (keys)
 *   modules                module.c (jump tables, inline sites, load/unload)
 *                          sites.c (finding a module's inline sites)
 *   commit pipeline        batch.c (requests -> pokes -> verified patch)
 *   runtime                runtime.c (the patch lock, fork)
 *   engine                 engine.c (one patch: which protocol per poke, the
 *                          order of the steps, rollback)
 *   protocols              flip.c (page flips), store.c (in-place stores
 *                          through a writable view), int3.c + trap.c (the
 *                          kernel's int3 protocol and its SIGTRAP handler),
 *                          textwrite.c (in-place writes for int3)
 *   OS and machine         os.c (/proc, pagemap, memfd, mmap, membarrier,
 *                          loaded objects), perfmap.c, signals.c,
 *                          arch/<arch>/ (instruction encodings)
 *   basics                 log.c, options.c, sort.c, elfsites.c
 *
 * The protocols are described once, in docs/design.md, and above the
 * function that runs each of them.
 */
#ifndef SC_INTERNAL_H
#define SC_INTERNAL_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/* ========================================================================
 * Basics: messages (log.c), options (options.c), sorting (sort.c), stats
 * ======================================================================== */
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
/* The default printer's level from a name (warn, info, debug, off). */
SC_HIDDEN int sc_log_set_level(const char *name);
/* Bytes as "0f 1f 44 00 00" into @out (3 * n chars). */
SC_HIDDEN void sc_hexdump(char *out, const uint8_t *b, size_t n);

enum sc_protocol {
	SC_PROTO_AUTO = 0, /* page flips, int3 where a page cannot flip */
	SC_PROTO_FLIP,	   /* the same, named */
	SC_PROTO_STORE,	   /* in-place stores through a writable view */
	SC_PROTO_INT3,	   /* always the int3 protocol */
};
enum sc_write_method {
	SC_WRITE_AUTO = 0, /* /proc/self/mem, falling back to mprotect */
	SC_WRITE_PROCMEM,  /* /proc/self/mem only */
	SC_WRITE_MPROTECT, /* mprotect window only */
};
/* Option values (options.c), read under the patch lock. */
struct sc_options {
	enum sc_protocol protocol;
	enum sc_write_method write;
	bool sigtrap_check;
	bool perf_map;
	bool inline_sites;
};
SC_HIDDEN extern struct sc_options sc_opt;
/* Lock held: apply STATICCALL_* from the environment, once. */
SC_HIDDEN void sc_options_from_env(void);
/* A decimal number at *s (advanced past it); -1 if there is none. */
SC_HIDDEN long sc_parse_dec(const char **s);

struct sc_sort_ops {
	size_t size;				     /* of an element */
	bool (*less)(const void *a, const void *b);  /* strict order */
	void (*swap)(void *a, void *b, size_t size); /* NULL: swap bytes */
	/* The same order as keys, most significant first: key k of an
	 * element, k < nkeys (NULL: only the heap sort). */
	uintptr_t (*key)(const void *e, int k);
	int nkeys;
};
/* Sort in place, no malloc (async-signal-safe): a radix sort of the keys
 * for large tables, a heap sort otherwise; O(n log n) at worst.  Not
 * stable for equal keys. */
SC_HIDDEN void sc_sort(void *base, size_t n, const struct sc_sort_ops *ops);

struct sc_stats {
#define SC_STAT_ATOMIC(n) _Atomic unsigned long long n;
	STATIC_CALL_STATS(SC_STAT_ATOMIC)
#undef SC_STAT_ATOMIC
};
SC_HIDDEN extern struct sc_stats sc_stats;
#define sc_stat_add(field, v)                                                  \
	atomic_fetch_add_explicit(&sc_stats.field, (v), memory_order_relaxed)

/* The mark of our signal handlers' entries (signals.h): "callsig1". */
#define SC_SIG_MAGIC 0x316769736c6c6163

/* ========================================================================
 * Instruction-level types shared with the arch layer
 * ======================================================================== */

/* What a thread that traps on a site in the int3 window must be made to
 * do instead: behave as the site's NEW instruction. */
enum sc_emu_kind {
	SC_EMU_NONE = 0,
	SC_EMU_JMP,  /* continue at target */
	SC_EMU_CALL, /* push site + len, continue at target */
	SC_EMU_NOP,  /* continue at site + len */
	SC_EMU_RET,  /* pop the return address and continue there */
	SC_EMU_RET0, /* return 0: clear the return register, then RET */
	SC_EMU_ZERO, /* clear the return register, continue at site + len */
};
struct sc_emu {
	uintptr_t site;	  /* the instruction's address */
	uintptr_t target; /* JMP, CALL */
	uint8_t len;	  /* the instruction's length */
	uint8_t kind;	  /* enum sc_emu_kind */
};

/* An inline call site (module.c, sites.c): a call or jmp to a trampoline,
 * found in a module's relocations, validated, and since then owned by the
 * library. */
struct sc_site {
	uint8_t *addr;	      /* the instruction */
	uintptr_t orig;	      /* where it went as compiled: trampoline or PLT */
	uintptr_t tramp;      /* the trampoline it reaches; 0 while its PLT slot
			       * is not bound yet */
	const uintptr_t *got; /* that PLT slot, or NULL (direct) */
	uint8_t tail;	      /* a jmp (tail call), not a call */
	uint8_t cur[7];	      /* the bytes the library last wrote there */
};

#include "arch/arch.h"

/* ========================================================================
 * OS and machine primitives (os.c).  Every check fails closed: a question
 * that cannot be answered is an error, never a "no".
 * ======================================================================== */
SC_HIDDEN long sc_gettid(void);	   /* cached per thread; async-signal-safe */
SC_HIDDEN extern size_t sc_pagesz; /* 0 until first asked */
SC_HIDDEN size_t sc_page_size_slow(void);
static inline size_t sc_page_size(void)
{
	return sc_pagesz ? sc_pagesz : sc_page_size_slow();
}
/* Is the running kernel older than @major.@minor (or unknown)? */
SC_HIDDEN bool sc_os_kernel_before(long major, long minor);

/* Grow the mmap-backed array *@v of *@cap elements of @size bytes (holding
 * @n) to at least @min (doubling); 0 or -ENOMEM.  mmap, not malloc: updates
 * may come from signal handlers. */
SC_HIDDEN int sc_array_grow(void **v, size_t *cap, size_t n, size_t size,
			    size_t min);
SC_HIDDEN void sc_array_free(void *v, size_t cap, size_t size);

/* /proc/self/maps: the mapping holding @addr (its range and PROT_* bits),
 * -EFAULT if none, or the errno of reading it.  Async-signal-safe. */
SC_HIDDEN int sc_os_mapping(const void *addr, uintptr_t *lo, uintptr_t *hi,
			    int *prot);
/* The same, and the inode of the file mapped there (0 for none). */
SC_HIDDEN int sc_os_mapping_ino(const void *addr, uintptr_t *lo, uintptr_t *hi,
				int *prot, unsigned long *ino);
/* Field @field (numbered as in proc(5)) of a /proc stat file: 0 and *@v,
 * or -errno.  Plain system calls only (async-signal-safe). */
SC_HIDDEN int sc_os_stat_field(const char *path, int field, long *v);
/* Call @fn for every thread of the process (/proc/self/task) until it
 * returns non-zero (that value is returned); 0, or -errno when the list
 * could not be read to the end. */
SC_HIDDEN long sc_os_threads(long (*fn)(long tid, void *arg), void *arg);
/* Thread @tid: 0 with its blocked mask bit for SIGTRAP and scheduler state
 * (R, S, D...), -ESRCH if it is gone, or -errno. */
SC_HIDDEN int sc_os_thread_blocks_sigtrap(long tid, bool *blocked, char *state);
/* CPU time thread @tid has run, in ns; -1 if unknown. */
SC_HIDDEN long long sc_os_thread_cpu_ns(long tid);

/* /proc/self/pagemap entries of the @n pages from @page: 0, -ENOENT when
 * the pagemap cannot be read at all (no /proc), or -errno. */
SC_HIDDEN int sc_os_pagemap(uintptr_t page, size_t n, uint64_t *out);
#define SC_PM_PRESENT (1ull << 63)
#define SC_PM_SWAPPED (1ull << 62)
#define SC_PM_FILE (1ull << 61) /* file page or shared memory: not COWed */
#define SC_PM_EXCLUSIVE (1ull << 56)

/* A new memfd for code copies (close-on-exec, executable); fd or -errno. */
SC_HIDDEN int sc_os_memfd(const char *name);
/* mmap as a raw system call (no sanitizer interceptor: these replace code
 * whose shadow ThreadSanitizer keeps read-only); the address or -errno. */
SC_HIDDEN long sc_os_mmap(uintptr_t addr, size_t len, int prot, int flags,
			  int fd, off_t off);

/* Cross-core synchronisation: membarrier SYNC_CORE, or on a single-threaded
 * process a self-serialising instruction. */
SC_HIDDEN int sc_sync_init(void);
/* 0 if sc_sync_cores() can work now (checked before the first write);
 * -ENOSYS otherwise. */
SC_HIDDEN int sc_sync_usable(void);
/* Every thread of the process executes a serialising instruction before it
 * next runs user code; the caller too.  0 or -errno. */
SC_HIDDEN int sc_sync_cores(void);
SC_HIDDEN void sc_sync_after_fork(void);

/* A loaded ELF object, as the dynamic linker describes it. */
#define SC_MAX_SEGS 16
struct sc_object {
	uintptr_t bias;
	const char *name; /* "" for the main program */
	const void *phdr; /* ElfW(Phdr)[phnum], the object's own table */
	int phnum;
	int nseg; /* PT_LOAD segments, page-rounded */
	uintptr_t lo[SC_MAX_SEGS], hi[SC_MAX_SEGS];
	int prot[SC_MAX_SEGS];
};
/* The object holding @addr: 0 or -ENOENT.  Uses dl_iterate_phdr (not
 * async-signal-safe) unless the object is in the code registry below. */
SC_HIDDEN int sc_os_object(const void *addr, struct sc_object *obj);
/* Is [addr, addr + len) inside one executable segment of a loaded object?
 * 0 and its page-rounded range and protection, or -ENOEXEC.  Objects that
 * registered (module.c) are answered from memory, without /proc. */
SC_HIDDEN int sc_code_range(const void *addr, size_t len, uintptr_t *lo,
			    uintptr_t *hi, int *prot);
SC_HIDDEN int sc_code_register(const void *anchor);
SC_HIDDEN void sc_code_forget(const void *anchor);
/* A module went away inside an update on this thread: its ranges are
 * retired (the update leaves them alone); count, and is @addr retired? */
SC_HIDDEN void sc_code_retire(uintptr_t lo, uintptr_t hi);
SC_HIDDEN unsigned int sc_code_retirements(void);
SC_HIDDEN bool sc_code_retired(const void *addr);
/* The patch lock was just taken: forget every retired range. */
SC_HIDDEN void sc_code_retire_reset(void);
/* Open the file the object was loaded from, checked to be that file (same
 * program headers); fd or -errno. */
SC_HIDDEN int sc_os_object_file(const struct sc_object *obj, const char **path);

/* ========================================================================
 * Signals (signals.c, signals.h) and the SIGTRAP side (trap.c)
 * ======================================================================== */
SC_HIDDEN int sc_trap_install(void);
SC_HIDDEN void sc_trap_after_fork(void);
/* Is thread @tid running our SIGTRAP handler right now? */
SC_HIDDEN bool sc_trap_in_handler(long tid);

/* ========================================================================
 * Patching: pokes and the protocols
 * ======================================================================== */
/* The longest poke: a trampoline (the arch's sites are shorter). */
#define SC_POKE_MAX STATIC_CALL_TRAMP_SIZE
_Static_assert(SC_ARCH_JUMP_LEN <= SC_POKE_MAX &&
		       SC_ARCH_SITE_LEN <= SC_POKE_MAX &&
		       SC_ARCH_SITE_LEN <= sizeof(((struct sc_site *)0)->cur),
	       "a site longer than a poke");

/* How a poke is carried out (the engine chooses, engine.c). */
enum sc_via {
	SC_VIA_NONE = 0, /* nothing to write: only checked */
	SC_VIA_FLIP,	 /* its page(s) flip to a new copy (flip.c) */
	SC_VIA_STORE,	 /* atomic stores through a writable view (store.c) */
	SC_VIA_INT3,	 /* the int3 protocol, written in place (int3.c) */
};

/* One site to rewrite: bytes [addr, addr + len), old and new. */
struct sc_poke {
	uint8_t *addr;
	uint8_t len;	   /* 1..SC_POKE_MAX */
	uint8_t via;	   /* enum sc_via, set by the engine */
	uint8_t stores;	   /* may be stored in place word by word: a trampoline,
			 * or a key site inside one aligned word */
	uint8_t stuck;	   /* a failed batch could not take it back */
	struct sc_emu emu; /* how the new bytes behave */
	struct sc_emu emu_old; /* how the old bytes behave (to take it back) */
	uint8_t old[SC_POKE_MAX];
	uint8_t new[SC_POKE_MAX];
	uint8_t *shadow; /* where the library keeps the bytes it last wrote
			  * here (NULL: derived from a key's state) */
	long *state;	 /* a state word the site's bytes follow (a jump
			  * table entry's key word), or NULL ... */
	long state_mask; /* ... its bits for this site ... */
	long state_new;	 /* ... and their value with the new bytes */
	uint8_t *rw;	 /* SC_VIA_STORE: the writable view of addr */
};

/* Patch @n pokes, sorted by address, at distinct addresses, their old bytes
 * checked against memory (batch.c).  Lock held.  0, or -errno with every
 * site as it was (or, in the int3 protocol's last resort, pinned: int3.c). */
SC_HIDDEN int sc_patch(struct sc_poke *p, size_t n);

/* Page flips (flip.c), called by the engine in this order; every step is
 * for the pokes marked SC_VIA_FLIP by sc_flip_plan(). */
SC_HIDDEN void sc_flip_plan(struct sc_poke *p, size_t n);
SC_HIDDEN int sc_flip_prepare(void);
SC_HIDDEN int sc_flip_apply(void);
SC_HIDDEN void sc_flip_undo(void);
SC_HIDDEN void sc_flip_finish(void);
SC_HIDDEN void sc_flip_abort(void);
SC_HIDDEN void sc_flip_synced(void);
/* After a fork, in the parent (@child false) or the child: a new memfd
 * generation. */
SC_HIDDEN void sc_flip_after_fork(bool child);
/* Before an int3 write in place into a page of a file: record what it
 * should hold (so that it can flip again once only our bytes differ). */
SC_HIDDEN void sc_flip_before_inplace(const void *addr, size_t len);
/* An int3 write into a flipped page, through its memfd copy (so that the
 * page stays the memfd's): 1 if written, 0 if not such a page, -errno. */
SC_HIDDEN int sc_flip_write(void *addr, const void *src, size_t len);
/* The int3 protocol wrote in place (sc_flip_write() returned 0): a flipped
 * page's copy gets the same bytes. */
SC_HIDDEN void sc_flip_wrote(void *addr, const void *src, size_t len);
/* Steps over retired code go (their pokes too: via SC_VIA_NONE). */
SC_HIDDEN void sc_flip_drop_retired(void);
/* A module is going: forget its regions (and release their memory). */
SC_HIDDEN void sc_flip_forget(uintptr_t lo, uintptr_t hi);
/* A child may share our memfd copies (a fork without atfork handlers). */
SC_HIDDEN void sc_flip_check_fork(void);

/* Store views (flip.c): the writable view of [addr, addr + len) if its
 * page has one, else NULL (-EIO through *err if the page must not be
 * written at all: a fork could not unshare it); and making one. */
SC_HIDDEN uint8_t *sc_store_view(const void *addr, size_t len, int *err);
SC_HIDDEN int sc_flip_make_view(const void *addr, size_t len, uint8_t **rw);

/* The store protocol (store.c): which pokes it can take (a view for their
 * page, made if need be), and their atomic stores, data words before the
 * word holding the instruction. */
SC_HIDDEN void sc_store_plan(struct sc_poke *p, size_t n);
SC_HIDDEN void sc_store_apply(struct sc_poke *p, size_t n);
SC_HIDDEN void sc_store_undo(struct sc_poke *p, size_t n);

/* The int3 protocol (int3.c): the guard before any int3 is written, the
 * writes of each step, the rollback and the pinned batches. */
SC_HIDDEN int sc_int3_guard(void);
SC_HIDDEN void sc_int3_unguard(void);
SC_HIDDEN int sc_int3_heads(struct sc_poke *p, size_t n, bool use_new,
			    size_t *done);
SC_HIDDEN int sc_int3_traps(struct sc_poke *p, size_t n, size_t *done);
SC_HIDDEN int sc_int3_tails(struct sc_poke *p, size_t n, bool use_new,
			    size_t *done, bool *any);
SC_HIDDEN void sc_int3_pin(struct sc_poke *p, size_t n);
SC_HIDDEN const struct sc_poke *sc_int3_find_pinned(uintptr_t site);
SC_HIDDEN bool sc_int3_pinned_any(void);

/* The SIGTRAP handler's view of a batch (trap.c). */
SC_HIDDEN void sc_trap_publish(struct sc_poke *pokes, size_t n);
SC_HIDDEN void sc_trap_unpublish(void);
SC_HIDDEN void sc_trap_quiesce(void);
SC_HIDDEN int sc_siteset_add(const void *addr);
SC_HIDDEN bool sc_siteset_contains(const void *addr);
SC_HIDDEN void sc_siteset_forget(uintptr_t lo, uintptr_t hi);

/* In-place writes of code (textwrite.c): through the page's writable view
 * if it has one, /proc/self/mem, or an mprotect window.  0 or -errno;
 * nothing is written on error. */
SC_HIDDEN int sc_text_write(void *addr, const void *src, size_t len);
SC_HIDDEN void sc_text_after_fork(void);
/* Is thread @tid running our SIGSEGV handler (waiting out a window)? */
SC_HIDDEN bool sc_text_in_handler(long tid);

/* perf's map of code it cannot symbolise (perfmap.c): the function symbols
 * of [lo, hi), read from the object's file. */
SC_HIDDEN void sc_perfmap_add(uintptr_t lo, uintptr_t hi);
/* The code of [lo, hi) went (a module unloaded): list it again if asked. */
SC_HIDDEN void sc_perfmap_forget(uintptr_t lo, uintptr_t hi);

/* ========================================================================
 * Runtime (runtime.c): the patch lock, lazy setup, fork
 * ======================================================================== */
/* Take the process-wide patch lock: 0, -EDEADLK if this thread holds it
 * (an update from a signal handler or the trace hook inside an update), or
 * -ENOTRECOVERABLE in a child forked without atfork handlers while its
 * parent was updating. */
SC_HIDDEN int sc_lock(void);
SC_HIDDEN void sc_unlock(void);
/* With the lock held: register membarrier, notice a fork.  Idempotent and
 * cheap after the first call.  (The SIGTRAP handler is installed by the
 * first int3 patch: page flips and stores need none.) */
SC_HIDDEN int sc_runtime_prepare(void);
/* May a fast path answer without the lock?  False in a child forked
 * without atfork handlers until it took the lock (one memory load). */
SC_HIDDEN bool sc_runtime_fast_ok(void);
/* getpid(), from a cache while no fork happened since it was filled. */
SC_HIDDEN pid_t sc_getpid(void);
/* exit() has begun: modules' destructors run, but no code goes away. */
SC_HIDDEN bool sc_exiting(void);
/* The program's own module registered (late enough to be told of exit()
 * before the modules' destructors run). */
SC_HIDDEN void sc_runtime_main_loaded(void);
/* Read an environment variable safely before/after main. */
SC_HIDDEN const char *sc_getenv(const char *name);

/* ========================================================================
 * The commit pipeline (batch.c)
 * ======================================================================== */
/* A growable array of pokes, mmap-backed (no malloc on the update path). */
struct sc_pokes {
	struct sc_poke *v;
	size_t n, cap;
};
/* A zeroed poke at the end of @ps, or NULL (-ENOMEM). */
SC_HIDDEN struct sc_poke *sc_pokes_add(struct sc_pokes *ps);

struct sc_req;
/* What a kind of request (static call, static key) gives the pipeline. */
struct sc_kind {
	/* Lock held, for every request of a commit before any is prepared
	 * (optional): bring in what the request's sites depend on.  Pokes
	 * point into the tables this may reorder. */
	void (*resolve)(struct sc_req *r);
	/* Lock held: append the pokes that carry out @r to @out.  0 or -errno
	 * (nothing written then). */
	int (*prepare)(struct sc_req *r, struct sc_pokes *out);
	/* After a successful patch: record the new state. */
	void (*done)(struct sc_req *r);
};
/* What the user asked for: one entry of a batch. */
struct sc_req {
	const struct sc_kind *kind;
	void *owner;	   /* struct static_call_key or struct static_key */
	void *func;	   /* static call: the new target */
	int arg;	   /* static key: the value to set, or the delta */
	unsigned int mode; /* static key: SC_KEY_SET or SC_KEY_ADD */
	unsigned int seq;  /* order of arrival in the batch */
	int count;	   /* static key: the count it leaves (prepare) */
};
enum { SC_KEY_SET = 0, SC_KEY_ADD = 1 };
/* A request as stored in a batch: one public entry each. */
union sc_slot {
	struct sc_req r;
	struct static_call_batch_entry e;
};

/* A new request at the end of batch @b for @owner: 0, or -EINVAL, -ENOSPC
 * (also kept as the batch's error, which its commit returns). */
SC_HIDDEN int sc_batch_add(struct static_call_batch *b, void *owner,
			   struct sc_req **out);
/* Apply @n requests as one patch: take the lock, keep the last request per
 * owner, prepare, verify, patch, record.  0 or -errno, nothing written. */
SC_HIDDEN int sc_commit(union sc_slot *reqs, size_t n);
/* Lock held: the work array a commit fills, and patching all of it as one
 * verified batch (module loads use it directly). */
SC_HIDDEN struct sc_pokes *sc_work(void);
SC_HIDDEN int sc_work_patch(void);
/* A failed batch left some site at its new bytes (a double failure): the
 * state of static calls and keys may not match their sites any more. */
SC_HIDDEN extern _Atomic bool sc_partial;
/* Commits so far (lock held): what a commit may cache is valid while it
 * does not change. */
SC_HIDDEN extern unsigned long sc_commit_seq;

/* ========================================================================
 * Modules (module.c, sites.c)
 * ======================================================================== */
/* Lock held: inline sites whose PLT slot got bound to @key's trampoline
 * join it (this reorders the site tables: before any poke exists). */
SC_HIDDEN void sc_module_resolve(struct static_call_key *key);
/* Lock held: append pokes moving every inline site of @key to @func. */
SC_HIDDEN int sc_module_call_pokes(struct static_call_key *key, void *func,
				   struct sc_pokes *out);
/* Lock held: append pokes bringing every site of @key to the state of a
 * count @to; -ENOEXEC (nothing appended) if a site of the key could not be
 * validated when its module was loaded. */
SC_HIDDEN int sc_module_key_pokes(struct static_key *key, int to,
				  struct sc_pokes *out);
/* After a successful patch: every site of @key now has the state of @to. */
SC_HIDDEN void sc_module_key_done(struct static_key *key, int to);
/* Sites of some key are not in their key's state (a module whose load
 * patch failed): the fast paths must not answer "nothing to do". */
SC_HIDDEN bool sc_module_keys_behind(void);

/* Finding a module's inline call sites (sites.c).  The module's file is
 * mapped, checked to be the loaded object, and its relocations walked;
 * every site is validated in memory.  0 and the sites (mmap-backed array),
 * or -errno. */
struct sc_site_list {
	struct sc_site *v;
	size_t n, cap;
	size_t pending, rejected;
};
SC_HIDDEN int sc_sites_scan(const struct sc_object *obj,
			    struct sc_site_list *out);
/* The target a trampoline's bytes name, as an update would pass it (RET0
 * through a module's PLT is static_call_return0). */
SC_HIDDEN int sc_sites_tramp_target(uintptr_t tramp, void **target);

#endif /* SC_INTERNAL_H */
