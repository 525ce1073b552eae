/* SPDX-License-Identifier: MIT */
/*
 * libstaticcall: the Linux kernel's static calls for user-space programs.
 *
 * A static call is a call site that is a plain direct `call` into a small
 * trampoline owned by the static call; static_call_update() rewrites that
 * trampoline while other threads run through it.  By default no byte that a
 * thread can execute is ever modified: the new code goes into a copy of the
 * page, which replaces the live page in one step (a page flip), and no
 * thread ever traps.  The API mirrors the
 * kernel's <linux/static_call.h>:
 *
 *   int add1(int x) { return x + 1; }
 *   int add2(int x) { return x + 2; }
 *   DEFINE_STATIC_CALL(my_op, add1);
 *
 *   static_call(my_op)(40);              // 41, a direct call
 *   static_call_update(my_op, add2);     // 0 or a negative errno
 *   static_call(my_op)(40);              // 42
 *
 * No initialisation call is needed.  Every function that can fail returns 0
 * or a negative errno and leaves the code untouched on failure; the reason is
 * also passed to the print callback (static_call_set_print()).
 *
 * Thread safety: every function here may be called from any thread while any
 * number of other threads run the call sites.  Updates are serialised by one
 * process-wide patch lock.  An update issued from a signal handler that
 * interrupted an update on the same thread fails with -EDEADLK.
 *
 * Async-signal safety: updates, key changes and batch commits are
 * async-signal-safe (no malloc, no lock but the patch lock, plain system
 * calls, messages formatted on the stack), except the first update of a
 * static call defined in a module whose constructor has not run yet
 * (that asks the dynamic linker) and the perf_map option.
 *
 * The protocol behind an update is documented in docs/design.md.
 */
#ifndef STATICCALL_H
#define STATICCALL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STATICCALL_VERSION_MAJOR 0
#define STATICCALL_VERSION_MINOR 1
#define STATICCALL_VERSION_PATCH 0

#ifndef SC_API
#define SC_API __attribute__((visibility("default")))
#endif

/* Architecture part: the trampoline layout (STATIC_CALL_TRAMP_SIZE) and the
 * asm that emits trampolines and branch sites. */
#if defined(__x86_64__)
#include <staticcall/arch-x86_64.h>
#elif defined(__aarch64__) && defined(__AARCH64EL__)
#include <staticcall/arch-aarch64.h>
#else
#error "libstaticcall: unsupported architecture (x86-64, aarch64 little-endian)"
#endif

/* ------------------------------------------------------------------------
 * The key: one per static call.  Fields starting with "__" are private to the
 * library; they live here so that no allocation is ever needed to update a
 * key (which keeps static_call_update() free of malloc).
 * ------------------------------------------------------------------------ */
struct static_call_key {
	void *func;		 /* current target; NULL for a NULL call */
	void *tramp;		 /* the trampoline, set by DEFINE_* */
	unsigned int __flags;	 /* private: state bits */
	unsigned int __reserved; /* private */
	/* private: the trampoline bytes last verified */
	unsigned char __shadow[STATIC_CALL_TRAMP_SIZE];
	void *__sites; /* private: reserved for inline call sites */
};

#define STATIC_CALL_KEY(name) __SCK__##name
#define STATIC_CALL_TRAMP(name) __SCT__##name
#define STATIC_CALL_TRAMP_STR(name) __SC_STR(STATIC_CALL_TRAMP(name))
#define __SC_STR_1(x) #x
#define __SC_STR(x) __SC_STR_1(x)
#define __SC_CAT_1(a, b) a##b
#define __SC_CAT(a, b) __SC_CAT_1(a, b)
/* DEFINE_STATIC_CALL_UNSET's stub, and the label and string it uses. */
#define __SC_UNSET(name) __SCU__##name
#define __SC_UNSET_STR(name) __SC_STR(__SC_UNSET(name))
#define __SC_UNSET_LOCAL(name) ".L__SCU__" #name
#define __SC_UNSET_NAME(name) ".L__SCN__" #name

/*
 * C and C++: the names of keys and trampolines are C symbols in both (the
 * trampolines are defined in assembler), so C++ declares them extern "C";
 * casts and initialisers take the form each language accepts without
 * warnings.
 */
#ifdef __cplusplus
#define __SC_EXTERN extern "C"
#define __SC_VOIDP(x) reinterpret_cast<void *>(x)
#define __SC_NULL nullptr
#else
#define __SC_EXTERN extern
#define __SC_VOIDP(x) ((void *)(x))
#define __SC_NULL ((void *)0)
#endif

/* ------------------------------------------------------------------------
 * Defining and declaring
 * ------------------------------------------------------------------------ */

/*
 * DECLARE_STATIC_CALL(name, func) - declare a static call, e.g. in a header.
 * @func names a function, or is a function type (`int (int, char *)`, a
 * typedef, or typeof(some_function)), that fixes the type of the call: its
 * parameters and return type.  At file (namespace) scope.  It also declares
 * the weak symbol of an UNSET stub, which static_call_query() compares
 * with (absent, hence NULL, unless the call was defined UNSET).
 */
#define DECLARE_STATIC_CALL(name, func)                                        \
	__SC_EXTERN struct static_call_key STATIC_CALL_KEY(name);              \
	__SC_EXTERN void __SC_UNSET(name)(void) __attribute__((weak));         \
	__SC_EXTERN __typeof__(func) STATIC_CALL_TRAMP(name)

#ifdef __cplusplus
/* Positional, every member: C++ before C++20 has no designators. */
#define __DEFINE_STATIC_CALL_KEY(name, init)                                   \
	SC_API struct static_call_key STATIC_CALL_KEY(name) = {                \
		init, __SC_VOIDP(&STATIC_CALL_TRAMP(name)), 0, 0, {}, nullptr}
#else
#define __DEFINE_STATIC_CALL_KEY(name, init)                                   \
	SC_API struct static_call_key STATIC_CALL_KEY(name) = {                \
		.func = (init),                                                \
		.tramp = (void *)&STATIC_CALL_TRAMP(name),                     \
	}
#endif

/*
 * DEFINE_STATIC_CALL(name, func) - define a static call whose initial target
 * is @func, which must be the name of a function (the trampoline refers to it
 * by its symbol name, as the kernel does).  Exactly one translation unit
 * defines each static call; others DECLARE it.  The key and the trampoline
 * are global symbols, usable from other shared objects.
 */
#ifdef __cplusplus
/* C++: @func's symbol is mangled; the compiler names it (arch header). */
#define DEFINE_STATIC_CALL(name, func)                                         \
	DECLARE_STATIC_CALL(name, func);                                       \
	__SC_TRAMP_JMP_FN(__SC_CAT(__SCD__, name),                             \
			  STATIC_CALL_TRAMP_STR(name), func)                   \
	__DEFINE_STATIC_CALL_KEY(name, __SC_VOIDP(&(func)))
#else
#define DEFINE_STATIC_CALL(name, func)                                         \
	DECLARE_STATIC_CALL(name, func);                                       \
	__DEFINE_STATIC_CALL_KEY(name, (void *)(func));                        \
	__SC_TRAMP_JMP(STATIC_CALL_TRAMP_STR(name), #func)
#endif

/*
 * DEFINE_STATIC_CALL_NULL(name, func) - a static call with no target; @func
 * only gives the type.  static_call_cond(name)() on it does nothing;
 * static_call(name)() returns an unspecified value, as in the kernel (a
 * call whose target is set before use: DEFINE_STATIC_CALL_UNSET).
 */
#define DEFINE_STATIC_CALL_NULL(name, func)                                    \
	DECLARE_STATIC_CALL(name, func);                                       \
	__DEFINE_STATIC_CALL_KEY(name, __SC_NULL);                             \
	__SC_TRAMP_RET(STATIC_CALL_TRAMP_STR(name))

/*
 * DEFINE_STATIC_CALL_RET0(name, func) - a static call that returns 0 (of the
 * return type, which must be an integer or pointer) until updated; @func only
 * gives the type.
 */
#define DEFINE_STATIC_CALL_RET0(name, func)                                    \
	DECLARE_STATIC_CALL(name, func);                                       \
	__DEFINE_STATIC_CALL_KEY(name, __SC_VOIDP(&__static_call_return0));    \
	__SC_TRAMP_RET0(STATIC_CALL_TRAMP_STR(name))

/*
 * DEFINE_STATIC_CALL_UNSET(name, func) - a static call whose target is
 * chosen at run time, before its first call; @func only gives the type.
 * Until the first static_call_update(), a call (static_call() or
 * static_call_cond(), from any site) does not return garbage: it prints
 *
 *   libstaticcall: static call 'name' called before static_call_update()
 *   gave it a target (DEFINE_STATIC_CALL_UNSET); return address 0x...
 *   (caller+0x12 in ./prog)
 *
 * to stderr (always, like a failed assert()) and aborts.  static_call_query()
 * returns NULL until then.  An update replaces the stub like any target (a
 * NULL update makes it a NULL call).  The stub is a weak global symbol,
 * __SCU__name, in section .text.staticcall_unset.
 */
#define DEFINE_STATIC_CALL_UNSET(name, func)                                   \
	DECLARE_STATIC_CALL(name, func);                                       \
	__SC_UNSET_STUB(__SC_UNSET_STR(name), __SC_UNSET_LOCAL(name),          \
			__SC_UNSET_NAME(name), #name);                         \
	__SC_TRAMP_JMP(STATIC_CALL_TRAMP_STR(name), __SC_UNSET_LOCAL(name));   \
	__DEFINE_STATIC_CALL_KEY(name, __SC_VOIDP(&__SC_UNSET(name)))

/* ------------------------------------------------------------------------
 * Calling
 * ------------------------------------------------------------------------ */

/* static_call(name)(args...) - a direct call into the trampoline. */
#define static_call(name) (STATIC_CALL_TRAMP(name))

/*
 * static_call_cond(name)(args...) - for calls returning void: a NULL target
 * makes the call a no-op (the NULL trampoline is a bare `ret`).
 */
#define static_call_cond(name) (void)static_call(name)

/*
 * static_call_query(name) - the current target, typed; NULL for NULL, and
 * for an UNSET call not updated yet (the key holds the stub: it is compared
 * with the weak __SCU__name, which is NULL unless the call was defined so).
 */
static inline void *__sc_query(void *func, void *unset)
{
	return func == unset ? __SC_NULL : func;
}
#ifdef __cplusplus
#define static_call_query(name)                                                \
	reinterpret_cast<__typeof__(&STATIC_CALL_TRAMP(name))>(                \
		__sc_query(__atomic_load_n(&STATIC_CALL_KEY(name).func,        \
					   __ATOMIC_ACQUIRE),                  \
			   __SC_VOIDP(&__SC_UNSET(name))))
#else
#define static_call_query(name)                                                \
	((__typeof__(&STATIC_CALL_TRAMP(name)))__sc_query(                     \
		__atomic_load_n(&STATIC_CALL_KEY(name).func,                   \
				__ATOMIC_ACQUIRE),                             \
		(void *)&__SC_UNSET(name)))
#endif

/* ------------------------------------------------------------------------
 * Updating
 * ------------------------------------------------------------------------ */

/* The function RET0 calls run.  Pass static_call_return0 to an update. */
SC_API long __static_call_return0(void);
#define static_call_return0 __SC_VOIDP(&__static_call_return0)

/* What the stub of an UNSET static call runs: prints and aborts. */
SC_API void __static_call_unset(const char *name, void *ret)
	__attribute__((noreturn, cold));

/*
 * A new target must have the static call's own function type; anything else
 * fails to compile, whatever the warning flags (even -w): _Generic picks the
 * error-attributed function for any other type.  A `void *` (NULL,
 * static_call_return0, or an explicit cast) is accepted as the escape hatch,
 * as the kernel accepts it.
 */
SC_API int __static_call_type_mismatch(void) __attribute__((
	error("static_call_update/static_call_batch_add: the new target's type "
	      "is incompatible with the static call's")));
#ifdef __cplusplus
/*
 * C++: no _Generic.  __sc_target<F>::check(func) picks by overload
 * resolution: a pointer to F (a function of the call's type, its address,
 * an overloaded name resolved to the call's type, a C++17 noexcept
 * function for a call that is not, or a null pointer constant: nullptr,
 * NULL, 0), exactly a void * (static_call_return0, or a cast: the escape
 * hatch C has too), or anything else (the ellipsis).  The static_assert
 * fails for the last, whatever the warning flags.
 */
#define __SC_TYPECHECK(name, func)                                             \
	static_assert(sizeof(__sc_target<__typeof__(STATIC_CALL_TRAMP(         \
				     name))>::check(func)) == 1,               \
		      "static_call_update/static_call_batch_add: the new "     \
		      "target's type is incompatible with the static call's")
#define __SC_TARGET(name, func)                                                \
	__sc_target<__typeof__(STATIC_CALL_TRAMP(name))>::ptr(func)
#else
#define __SC_TYPECHECK(name, func)                                             \
	(void)_Generic((func), __typeof__(&STATIC_CALL_TRAMP(name)) : 0,       \
		       void * : 0, default                                     \
		       : __static_call_type_mismatch())
#define __SC_TARGET(name, func) ((void *)(func))
#endif

/*
 * static_call_update(name, func) - retarget a static call.
 *
 * Returns 0 when every call that starts afterwards, in any thread, reaches
 * @func; a call already under way reaches the old or the new target.  Errors
 * (nothing is written): -EDEADLK (called from a signal handler that
 * interrupted an update on this thread), -EILSEQ (the trampoline's or a
 * site's bytes are not what the library last wrote there), -ENOEXEC (not a
 * trampoline of this library), -ENOSYS (no safe way to synchronise the
 * CPUs: membarrier SYNC_CORE unavailable or refused, and the process has
 * several threads), -EAGAIN (a site that had to take the int3 protocol,
 * while a thread blocks SIGTRAP), -ENOMEM (no memory or mapping left for
 * the page copies: vm.max_map_count), -ENOTRECOVERABLE (a child forked
 * without atfork handlers while its parent was updating), or the errno of
 * a failed write.  An update to the target already installed returns 0
 * at once (no write, no sync).
 */
#define static_call_update(name, func)                                         \
	__extension__({                                                        \
		__SC_TYPECHECK(name, func);                                    \
		__static_call_update(&STATIC_CALL_KEY(name),                   \
				     __SC_TARGET(name, func));                 \
	})

SC_API int __static_call_update(struct static_call_key *key, void *func);

/* ------------------------------------------------------------------------
 * Batches: many updates, one patch protocol run, a constant number of
 * cross-core synchronisations (one; three if sites fall back to the int3
 * protocol) however many static calls and keys it holds.
 *
 *   struct static_call_batch_entry ents[64];
 *   struct static_call_batch b;
 *   static_call_batch_init(&b, ents, 64);
 *   static_call_batch_add(&b, op_a, fast_a);
 *   static_call_batch_add(&b, op_b, fast_b);
 *   err = static_call_batch_commit(&b);
 *
 * The commit is all or nothing: every trampoline is verified before the
 * first byte is written; if any check fails, nothing is written.  Adding the
 * same static call twice keeps the later target.  The batch is emptied by a
 * successful commit and kept (for a retry) by a failed one.  A batch is not
 * itself thread-safe: one thread fills and commits it.
 * ------------------------------------------------------------------------ */
struct static_call_batch_entry {
	unsigned long __opaque[10];
};

struct static_call_batch {
	struct static_call_batch_entry *entries;
	unsigned int capacity;
	unsigned int count;
	int error; /* first error of an add, returned by the commit too */
	unsigned int __seq;
};

SC_API int static_call_batch_init(struct static_call_batch *batch,
				  struct static_call_batch_entry *storage,
				  size_t capacity);

/* Queue an update; -ENOSPC when the batch is full, -EINVAL on bad input. */
#define static_call_batch_add(batch, name, func)                               \
	__extension__({                                                        \
		__SC_TYPECHECK(name, func);                                    \
		__static_call_batch_add((batch), &STATIC_CALL_KEY(name),       \
					__SC_TARGET(name, func));              \
	})

SC_API int __static_call_batch_add(struct static_call_batch *batch,
				   struct static_call_key *key, void *func);
SC_API int static_call_batch_commit(struct static_call_batch *batch);
SC_API void static_call_batch_reset(struct static_call_batch *batch);

/* ------------------------------------------------------------------------
 * Inline call sites (opt-in, docs/inline.md)
 *
 * A module (executable or shared object) linked with
 *
 *     -Wl,--emit-relocs -Wl,-z,now      (CMake: staticcall_inline(<target>))
 *
 * keeps the relocations of its code in its file.  When it is loaded, the
 * library reads them, finds every `call`/`jmp` to a trampoline, checks each
 * one (the bytes really are that instruction, it reaches that trampoline,
 * it lies in an executable segment of the module) and rewrites it into a
 * direct call to the current target.  From then on static_call_update()
 * rewrites those sites together with the trampoline, in the same batch:
 *
 *   target in rel32 reach   call/jmp target            (inline)
 *   target out of reach     call/jmp trampoline        (as compiled)
 *   NULL                    5-byte nop / ret           (call / tail site)
 *   RET0                    xor %eax,%eax (5 bytes)    (call site)
 *
 * (x86-64; on aarch64 `bl`/`b` within +-128 MiB, NULL a `nop` or a `b` to
 * the trampoline's `ret`, RET0 a call of __static_call_return0:
 * docs/aarch64.md.)
 *
 * Sites are rewritten like trampolines: by a page flip by default (no trap,
 * one sync per batch however many sites).  Code built without the flags
 * keeps calling through the trampoline, and so do conditional tail calls
 * (`jne __SCT__x`, emitted by clang -Os).
 * ------------------------------------------------------------------------ */
enum static_call_site_state {
	STATIC_CALL_SITE_TRAMPOLINE = 0, /* call/jmp to the trampoline (or to
					  * its PLT entry), as compiled */
	STATIC_CALL_SITE_INLINE = 1,	 /* call/jmp straight to the target */
	STATIC_CALL_SITE_NOP = 2,	 /* NULL target at a call site */
	STATIC_CALL_SITE_RET = 3,	 /* NULL target at a tail site */
	STATIC_CALL_SITE_RET0 = 4,	 /* RET0 at a call site: eax = 0 */
	STATIC_CALL_SITE_CHANGED = 5,	 /* not what the library wrote: it
					  * refuses to patch the static call */
};

struct static_call_site {
	void *addr;	     /* the site's instruction */
	void *target;	     /* where it goes directly (NULL: nowhere) */
	unsigned char tail;  /* 1: a tail call (jmp), 0: a call */
	unsigned char state; /* enum static_call_site_state */
};

/*
 * static_call_sites(name, buf, max) - the inline sites of a static call in
 * every loaded module: fills up to @max entries of @buf (sorted by address)
 * and returns how many there are (which may exceed @max), or -EDEADLK from
 * inside an update on this thread.
 */
#define static_call_sites(name, buf, max)                                      \
	__static_call_sites(&STATIC_CALL_KEY(name), (buf), (max))
SC_API int __static_call_sites(struct static_call_key *key,
			       struct static_call_site *buf, size_t max);

/* ------------------------------------------------------------------------
 * Static keys (jump labels)
 *
 *   DEFINE_STATIC_KEY_FALSE(tracing);
 *
 *   if (static_branch_unlikely(&tracing))   // a 5-byte nop until enabled
 *           trace_something();
 *   ...
 *   static_branch_enable(&tracing);         // live, thread-safe
 *
 * A branch site is an `asm goto` that emits a 5-byte nop (aarch64: `nop`)
 * or a jump, plus an entry in the module's sc_jump_table section; the hot
 * path runs only that instruction (no load, no compare).  Enabling or
 * disabling a key patches every site of the key, in every loaded module, in
 * one batch.  A module loaded later (dlopen) gets its sites in the key's
 * current state before its constructors finish; an unloaded one is forgotten
 * before its code goes.
 * The site holds a jump iff (key enabled) XOR (likely form).
 * ------------------------------------------------------------------------ */
struct static_key {
	int enabled;	      /* reference count: > 0 means enabled */
	unsigned int __flags; /* private: bit 0 = defined true */
	void *__reserved;
};

struct static_key_true {
	struct static_key key;
};

struct static_key_false {
	struct static_key key;
};

#ifdef __cplusplus
/* enabled, __flags, __reserved: positional, every member */
#define STATIC_KEY_TRUE_INIT                                                   \
	{                                                                      \
		{                                                              \
			1, 1, nullptr                                          \
		}                                                              \
	}
#define STATIC_KEY_FALSE_INIT                                                  \
	{                                                                      \
		{                                                              \
			0, 0, nullptr                                          \
		}                                                              \
	}
#else
#define STATIC_KEY_TRUE_INIT                                                   \
	{                                                                      \
		.key = {.enabled = 1, .__flags = 1 }                           \
	}
#define STATIC_KEY_FALSE_INIT                                                  \
	{                                                                      \
		.key = {.enabled = 0, .__flags = 0 }                           \
	}
#endif

#define DEFINE_STATIC_KEY_TRUE(name)                                           \
	SC_API struct static_key_true name = STATIC_KEY_TRUE_INIT
#define DEFINE_STATIC_KEY_FALSE(name)                                          \
	SC_API struct static_key_false name = STATIC_KEY_FALSE_INIT
#define DECLARE_STATIC_KEY_TRUE(name) extern struct static_key_true name
#define DECLARE_STATIC_KEY_FALSE(name) extern struct static_key_false name
#define DECLARE_STATIC_KEY_ARRAY_TRUE(name, count)                             \
	extern struct static_key_true name[count]
#define DECLARE_STATIC_KEY_ARRAY_FALSE(name, count)                            \
	extern struct static_key_false name[count]
#ifdef __cplusplus
/* No range initialisers in C++: false keys are all zero; true ones are
 * emitted in assembler (arch header). */
#define DEFINE_STATIC_KEY_ARRAY_TRUE(name, count)                              \
	extern SC_API struct static_key_true name[count];                      \
	__SC_KEY_ARRAY_TRUE_FN(__SC_CAT(__SCKA__, name), name, count)          \
	extern SC_API struct static_key_true name[count]
#define DEFINE_STATIC_KEY_ARRAY_FALSE(name, count)                             \
	SC_API struct static_key_false name[count] = {}
#else
#define DEFINE_STATIC_KEY_ARRAY_TRUE(name, count)                              \
	SC_API struct static_key_true name[count] = {                          \
		[0 ...(count) - 1] = STATIC_KEY_TRUE_INIT}
#define DEFINE_STATIC_KEY_ARRAY_FALSE(name, count)                             \
	SC_API struct static_key_false name[count] = {                         \
		[0 ...(count) - 1] = STATIC_KEY_FALSE_INIT}
#endif

/* A jump table entry: where the site is, where it jumps, and (through a
 * per-site constant pointer, so that keys in other shared objects need no
 * text relocation) which key, with bit 0 set for the likely form. */
struct static_key_entry {
	int code;   /* site - &code */
	int target; /* jump target - &target */
	long key;   /* (&pointer to key) - &key, | 1 if likely, | 2 if the
		     * site never crosses an aligned 8-byte word */
};

SC_API int __static_key_error_wrong_type(void)
	__attribute__((error("static_branch_*: not a static_key_true/false")));

#ifdef __cplusplus
/* C++: no __builtin_types_compatible_p; a trait picks the initial form. */
#define __SC_BRANCH(x, likely, t_jump, f_jump)                                 \
	__sc_static_branch(&(x)->key, likely,                                  \
			   (__sc_key_kind<__typeof__(*(x))>::is_true           \
				    ? (t_jump)                                 \
				    : (f_jump)))
#else
#define __SC_KEY_IS(x, t) __builtin_types_compatible_p(__typeof__(*(x)), t)

/*
 * static_branch_likely(&key) / static_branch_unlikely(&key): true when the
 * key is enabled.  likely: the enabled path is the straight line;
 * unlikely: the disabled path is.  Whether the site starts as a nop or a
 * jump follows from the key's type and the form, as in the kernel.  The key
 * must be a static_key_true or static_key_false object with a constant
 * address.
 */
#define __SC_BRANCH(x, likely, t_jump, f_jump)                                 \
	__builtin_choose_expr(                                                 \
		__SC_KEY_IS(x, struct static_key_true),                        \
		__sc_static_branch(&(x)->key, likely, t_jump),                 \
		__builtin_choose_expr(                                         \
			__SC_KEY_IS(x, struct static_key_false),               \
			__sc_static_branch(&(x)->key, likely, f_jump),         \
			__static_key_error_wrong_type()))
#endif

/* For a true key the likely form starts as a nop (enabled XOR likely = 0),
 * the unlikely form as a jump; for a false key the other way round. */
#define static_branch_likely(x) __builtin_expect(!__SC_BRANCH(x, 1, 0, 1), 1)
#define static_branch_unlikely(x) __builtin_expect(__SC_BRANCH(x, 0, 1, 0), 0)

/*
 * Changing keys.  All return 0 or a negative errno; on error no site was
 * changed.  enable/disable set the key to 1/0 (enable of a key already at a
 * count > 0 leaves the count alone, as the kernel does; disable of a key
 * with a count > 1 sets it to 0); inc/dec count references, and a dec below
 * zero is -EINVAL, never a wrap.  Safe from any thread while others run the
 * sites.  Errors: those of static_call_update(), -EOVERFLOW (inc past
 * INT_MAX), and -ENOEXEC for a key with a site that could not be checked
 * when its module was loaded (the library never reports a key state that
 * one of its sites does not have).  Setting a key to the state it has
 * returns 0 at once.
 */
#define static_branch_enable(x) __static_key_set(&(x)->key, 1)
#define static_branch_disable(x) __static_key_set(&(x)->key, 0)
#define static_branch_inc(x) __static_key_add(&(x)->key, 1)
#define static_branch_dec(x) __static_key_add(&(x)->key, -1)
#define static_key_enabled(x)                                                  \
	(__atomic_load_n(&(x)->key.enabled, __ATOMIC_ACQUIRE) > 0)
#define static_key_count(x) __atomic_load_n(&(x)->key.enabled, __ATOMIC_ACQUIRE)

SC_API int __static_key_set(struct static_key *key, int enabled);
SC_API int __static_key_add(struct static_key *key, int delta);

/* In a batch: set keys together with static call updates, one patch run. */
#define static_branch_batch_enable(batch, x)                                   \
	__static_key_batch_set((batch), &(x)->key, 1)
#define static_branch_batch_disable(batch, x)                                  \
	__static_key_batch_set((batch), &(x)->key, 0)
SC_API int __static_key_batch_set(struct static_call_batch *batch,
				  struct static_key *key, int enabled);

/*
 * Every module (executable or shared object) that includes this header
 * tells the library when it is loaded and before it is unloaded: each
 * translation unit carries a weak, hidden constructor/destructor pair (one
 * per module after linking; repeated calls are ignored).  At load the
 * module's sc_jump_table (its static branch sites) is registered and its
 * sites brought to their keys' states, in one batch; at unload (dlclose,
 * not exit) the library forgets everything it knew about the module's code
 * (its sites, its page copies), before the code goes.  A module linked for
 * inline call sites has them found and patched at load.
 */
SC_API int __static_call_module_load(struct static_key_entry *start,
				     struct static_key_entry *stop);
SC_API int __static_call_module_init(struct static_key_entry *start,
				     struct static_key_entry *stop,
				     void *anchor);
SC_API void __static_call_module_unload(struct static_key_entry *start,
					void *anchor);
extern struct static_key_entry __start_sc_jump_table[]
	__attribute__((weak, visibility("hidden")));
extern struct static_key_entry __stop_sc_jump_table[]
	__attribute__((weak, visibility("hidden")));
/* Any address inside the module tells the library which module it is. */
__attribute__((weak, visibility("hidden"))) char __sc_module_anchor;
__attribute__((weak, visibility("hidden"), constructor(101))) void
__sc_module_init(void)
{
	__static_call_module_init(__start_sc_jump_table, __stop_sc_jump_table,
				  &__sc_module_anchor);
}
__attribute__((weak, visibility("hidden"), destructor(101))) void
__sc_module_exit(void)
{
	__static_call_module_unload(__start_sc_jump_table, &__sc_module_anchor);
}

/* ------------------------------------------------------------------------
 * The trace hook: a static call that the patch engine itself calls between
 * the steps of its protocol (it is NULL, so a no-op, until someone sets it).
 * It exists to watch the protocol and, as the 2019 LKML discussion asked, to
 * keep a static call site inside the patch path so that the recursive case
 * (the patcher running a site it is patching) is exercised by the tests.
 * The hook runs with the patch lock held: an update from it gets -EDEADLK.
 * ------------------------------------------------------------------------ */
enum static_call_trace_step {
	STATIC_CALL_TRACE_BEGIN = 0,  /* nothing published or written yet */
	STATIC_CALL_TRACE_INT3 = 1,   /* int3 on every site, synced */
	STATIC_CALL_TRACE_TAIL = 2,   /* bytes 1..n-1 written, synced */
	STATIC_CALL_TRACE_FINISH = 3, /* first bytes written, synced */
};

typedef void static_call_trace_fn_t(enum static_call_trace_step step,
				    unsigned int nr_sites);
DECLARE_STATIC_CALL(static_call_trace_hook, static_call_trace_fn_t);

/*
 * static_call_synchronize() - a grace period for the library's own part.
 *
 * Waits for every update in progress on other threads to finish, then
 * makes every core serialise and waits until no SIGTRAP handler of ours is
 * still running.  When it returns, for every update (of static calls and
 * keys) that finished before: no thread can still ENTER an old target or
 * take an old branch, whether it was stopped inside a trampoline, in a
 * patch window, or with a trap pending.
 *
 * It does NOT wait for threads already executing INSIDE an old target: the
 * library cannot see them.  Before dlclose() of the object that held an
 * old target, first retarget away from it, call this, then make sure by
 * your own means that no thread is still running its code (a reference
 * count taken by the target, joining the worker threads, RCU).
 *
 * Returns 0, or -EDEADLK when called from inside an update on the same
 * thread (the trace hook, or a signal handler that interrupted one).
 */
SC_API int static_call_synchronize(void);

/* ------------------------------------------------------------------------
 * Statistics and diagnostics
 * ------------------------------------------------------------------------ */
#define STATIC_CALL_STATS(X)                                                   \
	X(updates)	   /* successful updates and key changes */            \
	X(batches)	   /* patch protocol runs that wrote code */           \
	X(sites_patched)   /* sites rewritten by those runs */                 \
	X(syncs)	   /* cross-core synchronisations issued */            \
	X(traps_emulated)  /* int3 hits handled by emulating the new code */   \
	X(traps_rewound)   /* late int3 hits re-run after the patch ended */   \
	X(traps_foreign)   /* SIGTRAPs passed on to the previous handler */    \
	X(bytes_written)   /* bytes of code written */                         \
	X(writes_procmem)  /* writes through /proc/self/mem */                 \
	X(writes_mprotect) /* writes through the mprotect fallback */          \
	X(writes_view)	   /* writes through a view or a memfd copy */         \
	X(segv_waits)	   /* threads that waited out an mprotect window */    \
	X(int3_refused)	  /* int3 patches refused: a thread blocked SIGTRAP */ \
	X(errors)	  /* updates and commits that failed */                \
	X(sites_found)	  /* inline call sites registered at module load */    \
	X(sites_rejected) /* site table entries that failed their checks */    \
	X(flips)	  /* regions of code pages flipped to a new copy */    \
	X(pages_flipped)  /* pages those flips mapped */                       \
	X(unchanged)	  /* updates to the state installed: nothing done */   \
	X(int3_fallbacks) /* sites that took int3 where a flip could not */

struct static_call_stats {
#define __SC_STAT_FIELD(n) unsigned long long n;
	STATIC_CALL_STATS(__SC_STAT_FIELD)
#undef __SC_STAT_FIELD
};

/* Fill @stats (of @size bytes, for ABI growth); returns 0 or -EINVAL. */
SC_API int static_call_get_stats(struct static_call_stats *stats, size_t size);

/*
 * Run-time options, also read once, at first use, from the environment
 * variable STATICCALL_<NAME in capitals>; a value set here wins.
 *
 *   "protocol"  auto (default), flip: page flips for every kind of site
 *                     (no trap, no writable mapping of code; docs/design.md),
 *                     falling back to int3 for a page that cannot flip
 *                     (executable memfds refused, a breakpoint or probe in
 *                     the page);
 *               store: atomic stores through a second, writable view of
 *                     trampoline pages and of key sites built with
 *                     STATICCALL_KEYS_TRAPFREE, int3 for other sites: the
 *                     fastest, but it relies on behaviour the x86 vendors
 *                     do not document, and keeps a writable mapping of
 *                     those pages (docs/signals.md);
 *               int3: always the kernel's int3 protocol.
 *               A page keeps the kind of mapping it got: a page with a
 *               writable view stays with it.
 *   "write"     how the int3 protocol writes code: auto (/proc/self/mem,
 *               falling back to an mprotect window), procmem, mprotect.
 *   "sigtrap_check"  on (default): before writing an int3, look at every
 *               thread's signal mask and refuse the update (-EAGAIN) if one
 *               blocks SIGTRAP (it would be killed if it ran into the int3);
 *               off: skip that check (it costs ~20 us per thread).
 *   "perf_map"  on: list the functions of every page moved to a memfd copy
 *               (mappings perf cannot symbolise) in /tmp/perf-<pid>.map,
 *               named from the object's symbol table (default off; not
 *               async-signal-safe: reads the object's file).
 *   "log"       the default printer's level: warn, info, debug, off.
 *   "inline"    on (default): modules linked for inline call sites have
 *               them patched at load; off: such modules are left calling
 *               through their trampolines (takes effect for modules loaded
 *               afterwards; set STATICCALL_INLINE=off for the program).
 *
 * Returns 0, -ENOENT (no such option), -EINVAL (bad value), or -EDEADLK
 * (called from inside an update on the same thread).
 */
SC_API int static_call_set_option(const char *name, const char *value);

enum static_call_print_level {
	STATIC_CALL_WARN = 0,
	STATIC_CALL_INFO = 1,
	STATIC_CALL_DEBUG = 2,
};

typedef void (*static_call_print_fn_t)(enum static_call_print_level level,
				       const char *msg);

/*
 * Route the library's messages (one line each, no trailing newline) to @fn;
 * NULL silences them.  The default writes warnings to stderr, and more when
 * the environment sets STATICCALL_LOG=info or debug.  Returns the previous
 * callback.  The callback may run inside an update, with the patch lock held.
 */
SC_API static_call_print_fn_t static_call_set_print(static_call_print_fn_t fn);

#ifdef __cplusplus
/* The C++ helpers of the macros above (templates need C++ linkage). */
extern "C++" {
template <typename T, typename R> struct __sc_if_voidp {
};
template <typename R> struct __sc_if_voidp<void *, R> {
	typedef R type;
};

/* F: the static call's function type (static_call_update's type check). */
template <typename F> struct __sc_target {
	typedef char (&ok)[1];
	typedef char (&bad)[2];
	static ok check(F *);
	template <typename T>
	static typename __sc_if_voidp<T, ok>::type check(T);
	static bad check(...);

	static void *ptr(F *f) { return reinterpret_cast<void *>(f); }
	template <typename T>
	static typename __sc_if_voidp<T, void *>::type ptr(T p)
	{
		return p;
	}
	static void *ptr(...) { return nullptr; } /* after check() failed */
};

template <typename K> struct __sc_false {
	enum { value = 0 };
};
/* static_branch_*(): which kind of key (the initial form of the site). */
template <typename K> struct __sc_key_kind {
	static_assert(__sc_false<K>::value,
		      "static_branch_*: not a static_key_true/false");
	enum { is_true = 0 };
};
template <> struct __sc_key_kind<struct static_key_true> {
	enum { is_true = 1 };
};
template <> struct __sc_key_kind<struct static_key_false> {
	enum { is_true = 0 };
};
}

/* The C++ definition of true key arrays writes this layout in assembler. */
static_assert(offsetof(struct static_key, enabled) == 0 &&
		      offsetof(struct static_key, __flags) == 4 &&
		      sizeof(struct static_key_true) ==
			      sizeof(struct static_key),
	      "staticcall.h: DEFINE_STATIC_KEY_ARRAY_TRUE needs updating");
}
#endif

#endif /* STATICCALL_H */
