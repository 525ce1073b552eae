/* SPDX-License-Identifier: MIT */
/*
 * Fault injection: system calls that the patch engine depends on fail,
 * from the start or in the middle of the int3 protocol, while caller
 * threads run the static calls and a static key being patched (every
 * result checked, stress.h).  Each scenario runs in a fork child, so that
 * its seccomp filter (and a pinned batch) dies with it; the child reports
 * its counts through shared memory and the parent asserts on them.
 *
 * Faults come from seccomp filters (prctl(PR_SET_NO_NEW_PRIVS) +
 * seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)):
 *
 *  - SECCOMP_RET_ERRNO filters, for good: membarrier, pwrite64 (the
 *    /proc/self/mem writer), openat(O_RDWR), mprotect, memfd_create,
 *    mmap(PROT_EXEC); installed before the first update, or from the trace
 *    hook at a step of the protocol (BEGIN, INT3, TAIL);
 *  - SECCOMP_RET_TRAP for pwrite64 and membarrier, with a SIGSYS handler
 *    that performs the call itself (from one instruction the filter lets
 *    through) or fails exactly the Nth int3 write, tail write, head write
 *    or SYNC_CORE of an update with EPERM: transient faults, so that every
 *    branch of the rollback (src/engine.c) runs, including the ones where
 *    restoring works.  The same handler checks invariant I2 of
 *    docs/design.md on every code write the library makes: a write other
 *    than an int3 over byte 0 must land on a site whose byte 0 is int3.
 *
 * After every update that failed, the test checks that no byte of any
 * trampoline or key site changed (the "restored" outcome) or, where even
 * restoring was impossible, that the batch is pinned: its sites keep int3
 * and behave as the NEW code (emulated for good), later updates of them
 * fail with -EILSEQ (also one to the target their key still names), and a
 * late trap on a site that was restored is re-run, not emulated from the
 * pinned copy.  Concurrent callers never see a result that was not legal
 * at that moment, and never crash (a crash report names the trampoline).
 *
 * The children turn the int3 protocol's check of signal masks off: nothing
 * here blocks SIGTRAP, and under load a caller preempted inside the
 * library's own handler can be taken for a thread that does (-EAGAIN),
 * which would blur the outcomes asserted here.
 *
 * argv[1] picks a group (ctest runs each as its own test): "syscalls"
 * (faults from the start), "midway" (filters installed from the trace
 * hook), "transient" (the SIGSYS injector), "wx" (the W^X checker's own
 * test).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/membarrier.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "common.h"
#include "stress.h"

#define CHILD_ALARM 30
#define SYNC_CORE MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE

/* ------------------------------------------------------------------------
 * What a child reports (shared memory, read by the parent)
 * ------------------------------------------------------------------------ */
struct result {
	char fail[512]; /* first failed check, empty if none */
	int finished;
	unsigned long ok, ok_alone, ok_sync_failed, restored, pinned;
	unsigned long errors, faults;
	unsigned long calls, wrong, unknown, key_calls, key_wrong;
	unsigned long traps, rewound, procmem, mprotect, view, segv;
	unsigned long int3_steps, i2_bad, code_writes, wx_scans, log;
	unsigned long late_rewound, eilseq;
	int first_err;
};
static struct result *R;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			check_failed(__LINE__, __VA_ARGS__);                   \
	} while (0)

static void __attribute__((format(printf, 2, 3)))
check_failed(int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (R->fail[0])
		return;
	n = snprintf(R->fail, sizeof(R->fail), "line %d: ", line);
	va_start(ap, fmt);
	vsnprintf(R->fail + n, sizeof(R->fail) - (size_t)n, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------
 * seccomp filters
 * ------------------------------------------------------------------------ */
struct rule {
	int nr;
	int arg;       /* -1: any arguments */
	uint64_t mask; /* match when (args[arg] & mask) == value */
	uint64_t value;
	uint32_t action;
	bool trap_ip; /* let calls from sc_test_raw_syscall_ip through */
};

#define ERRNO(e) (SECCOMP_RET_ERRNO | ((e)&SECCOMP_RET_DATA))

static struct sock_filter stmt(uint16_t code, uint32_t k)
{
	return (struct sock_filter){code, 0, 0, k};
}

static struct sock_filter jeq(uint32_t k, uint8_t jt, uint8_t jf)
{
	return (struct sock_filter){BPF_JMP | BPF_JEQ | BPF_K, jt, jf, k};
}

#define LD(off) stmt(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(off))
#define RET(v) stmt(BPF_RET | BPF_K, (v))
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define IP_LO offsetof(struct seccomp_data, instruction_pointer)

static int install_filter(const struct rule *rules, int n)
{
	struct sock_filter f[256];
	int len = 0;
	uint64_t ip = (uint64_t)(uintptr_t)sc_test_raw_syscall_ip;

	f[len++] = LD(offsetof(struct seccomp_data, arch));
	f[len++] = jeq(AUDIT_ARCH_X86_64, 1, 0);
	f[len++] = RET(SECCOMP_RET_ALLOW);
	for (int r = 0; r < n; r++) {
		const struct rule *ru = &rules[r];
		int skips[8], ns = 0;

		f[len++] = LD(offsetof(struct seccomp_data, nr));
		skips[ns++] = len;
		f[len++] = jeq((uint32_t)ru->nr, 0, 0);
		if (ru->arg >= 0) {
			for (int half = 0; half < 2; half++) {
				uint32_t m =
					(uint32_t)(ru->mask >> (32 * half));
				uint32_t v =
					(uint32_t)(ru->value >> (32 * half));
				f[len++] = LD(ARG_LO(ru->arg) + 4 * half);
				f[len++] = stmt(BPF_ALU | BPF_AND | BPF_K, m);
				skips[ns++] = len;
				f[len++] = jeq(v, 0, 0);
			}
		}
		if (ru->trap_ip) {
			/* ip == sc_test_raw_syscall_ip: allow */
			f[len++] = LD(IP_LO);
			f[len++] = jeq((uint32_t)ip, 0, 3);
			f[len++] = LD(IP_LO + 4);
			f[len++] = jeq((uint32_t)(ip >> 32), 0, 1);
			f[len++] = RET(SECCOMP_RET_ALLOW);
		}
		f[len++] = RET(ru->action);
		for (int s = 0; s < ns; s++)
			f[skips[s]].jf = (uint8_t)(len - skips[s] - 1);
	}
	f[len++] = RET(SECCOMP_RET_ALLOW);

	struct sock_fprog prog = {.len = (unsigned short)len, .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		    SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
		return errno ? -errno : -ESRCH;
	return 0;
}

/* The filters of the scenarios. */
static const struct rule membarrier_enosys[] = {
	{SYS_membarrier, -1, 0, 0, ERRNO(ENOSYS), false}};
static const struct rule membarrier_eperm[] = {
	{SYS_membarrier, -1, 0, 0, ERRNO(EPERM), false}};
static const struct rule sync_core_eperm[] = {
	{SYS_membarrier, 0, ~0ull, SYNC_CORE, ERRNO(EPERM), false}};
static const struct rule pwrite_eperm[] = {
	{SYS_pwrite64, -1, 0, 0, ERRNO(EPERM), false}};
static const struct rule open_rdwr_eperm[] = {
	{SYS_openat, 2, O_ACCMODE, O_RDWR, ERRNO(EPERM), false},
	{SYS_open, 1, O_ACCMODE, O_RDWR, ERRNO(EPERM), false}};
static const struct rule mprotect_eacces[] = {
	{SYS_mprotect, -1, 0, 0, ERRNO(EACCES), false}};
/* every way of writing code: /proc/self/mem and the mprotect window */
static const struct rule writes_blocked[] = {
	{SYS_pwrite64, -1, 0, 0, ERRNO(EPERM), false},
	{SYS_mprotect, 2, PROT_WRITE, PROT_WRITE, ERRNO(EACCES), false}};
static const struct rule memfd_eperm[] = {
	{SYS_memfd_create, -1, 0, 0, ERRNO(EPERM), false}};
static const struct rule exec_mmap_eacces[] = {
	{SYS_mmap, 2, PROT_EXEC, PROT_EXEC, ERRNO(EACCES), false}};
static const struct rule injector[] = {
	{SYS_pwrite64, -1, 0, 0, SECCOMP_RET_TRAP, true},
	{SYS_membarrier, -1, 0, 0, SECCOMP_RET_TRAP, true}};

#define FILTER(r) (r), (int)(sizeof(r) / sizeof((r)[0]))

/* ------------------------------------------------------------------------
 * The transient fault injector (SIGSYS) and the I2 checker
 * ------------------------------------------------------------------------ */
enum cls { C_INT3, C_TAIL, C_HEAD, C_SYNC, C_N };
static const char *const cls_name[] = {"int3", "tail", "head", "sync"};

struct fault {
	int cls[2]; /* fail call number at[k] of class cls[k] (1-based) */
	long at[2];
};

static struct {
	_Atomic int armed;
	_Atomic long seen[C_N];
	struct fault spec;
	_Atomic unsigned long injected, code_writes, i2_bad;
	uintptr_t site[64]; /* site starts, learned from int3 writes */
	_Atomic int nsite;
} inj;

static bool site_known(uintptr_t a)
{
	for (int i = 0; i < atomic_load(&inj.nsite); i++)
		if (inj.site[i] == a)
			return true;
	return false;
}

/* The site that holds bytes [a, a + len), a not its first byte. */
static uintptr_t site_of(uintptr_t a, size_t len)
{
	uintptr_t best = 0;

	for (int i = 0; i < atomic_load(&inj.nsite); i++) {
		uintptr_t s = inj.site[i];
		if (s < a && a + len <= s + 16 && s > best)
			best = s;
	}
	return best;
}

static uint8_t code_byte(uintptr_t a) { return *(const volatile uint8_t *)a; }

/* Classify a code write and check I2 before it happens. */
static int code_write(uintptr_t at, const uint8_t *src, size_t len)
{
	uintptr_t s;

	atomic_fetch_add(&inj.code_writes, 1);
	if (len == 1 && src[0] == 0xcc)
		return C_INT3; /* int3 over byte 0: always allowed */
	if (len == 1 && site_known(at)) {
		/* a new or old first byte: only where int3 stands */
		if (code_byte(at) != 0xcc)
			atomic_fetch_add(&inj.i2_bad, 1);
		return C_HEAD;
	}
	s = site_of(at, len);
	if (!s || code_byte(s) != 0xcc)
		atomic_fetch_add(&inj.i2_bad, 1); /* a tail of a live site */
	return C_TAIL;
}

static void fi_sigsys(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	long nr = si->si_syscall, ret;
	long a[6] = {g[REG_RDI], g[REG_RSI], g[REG_RDX],
		     g[REG_R10], g[REG_R8],  g[REG_R9]};
	int cls = -1;

	(void)sig;
	if (nr == SYS_pwrite64 && a[2] >= 1 && a[2] <= 16)
		cls = code_write((uintptr_t)a[3], (const uint8_t *)a[1],
				 (size_t)a[2]);
	else if (nr == SYS_membarrier && a[0] == SYNC_CORE)
		cls = C_SYNC;
	if (cls >= 0 && atomic_load(&inj.armed)) {
		long n = atomic_fetch_add(&inj.seen[cls], 1) + 1;
		for (int k = 0; k < 2; k++) {
			if (inj.spec.at[k] == n && inj.spec.cls[k] == cls) {
				atomic_fetch_add(&inj.injected, 1);
				g[REG_RAX] = -EPERM;
				return;
			}
		}
	}
	ret = sc_test_raw_syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	g[REG_RAX] = ret;
	if (cls == C_INT3 && ret == 1 && !site_known((uintptr_t)a[3])) {
		int i = atomic_load(&inj.nsite);
		if (i < 64) {
			inj.site[i] = (uintptr_t)a[3];
			atomic_store(&inj.nsite, i + 1);
		}
	}
}

static void injector_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fi_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	sigaction(SIGSYS, &sa, NULL);
	CHECK(install_filter(FILTER(injector)) == 0, "seccomp: %s",
	      strerror(errno));
}

/* ------------------------------------------------------------------------
 * The static key, its sites and its generations (as stress.h does for the
 * static calls)
 * ------------------------------------------------------------------------ */
DEFINE_STATIC_KEY_FALSE(fi_key);

__attribute__((noinline, used)) static int fi_key_probe(void)
{
	return static_branch_unlikely(&fi_key) ? 1 : 0;
}

static struct st_gen key_gen;

static unsigned long key_publish(int on)
{
	unsigned long n = atomic_load(&key_gen.pending) + 1;

	atomic_store(&key_gen.ring[n % ST_RING], n << 8 | (unsigned long)on);
	atomic_store(&key_gen.pending, n);
	return n;
}

static void key_commit(unsigned long n) { atomic_store(&key_gen.committed, n); }

static enum st_verdict key_check(unsigned long c, unsigned long p, int v)
{
	bool unknown = false;

	if (p < c || p - c >= ST_RING)
		return ST_UNKNOWN;
	for (unsigned long n = c; n <= p; n++) {
		unsigned long e = atomic_load(&key_gen.ring[n % ST_RING]);
		if (e >> 8 != n)
			unknown = true;
		else if ((int)(e & 0xff) == v)
			return ST_LEGAL;
	}
	return unknown ? ST_UNKNOWN : ST_WRONG;
}

/* ------------------------------------------------------------------------
 * Caller threads
 * ------------------------------------------------------------------------ */
#define NR_CALLERS 2
static _Atomic int stop;
static struct st_counts counts;
static _Atomic unsigned long key_calls, key_wrong;
static pthread_t callers[NR_CALLERS + 1];
static struct st_caller_arg cargs[NR_CALLERS];
static bool callers_running;

static void *key_caller(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned long c = atomic_load(&key_gen.committed);
		int v = fi_key_probe();
		unsigned long p = atomic_load(&key_gen.pending);
		atomic_fetch_add_explicit(&key_calls, 1, memory_order_relaxed);
		if (key_check(c, p, v) == ST_WRONG)
			atomic_fetch_add(&key_wrong, 1);
	}
	return NULL;
}

static void callers_start(void)
{
	atomic_store(&stop, 0);
	for (int t = 0; t < NR_CALLERS; t++) {
		cargs[t] = (struct st_caller_arg){&stop, &counts, t * 7919 + 1};
		pthread_create(&callers[t], NULL, st_caller_thread, &cargs[t]);
	}
	pthread_create(&callers[NR_CALLERS], NULL, key_caller, NULL);
	callers_running = true;
	CHECK(sc_test_wait_unblocked() == 0, "threads did not start");
}

static void callers_stop(void)
{
	if (!callers_running)
		return;
	atomic_store(&stop, 1);
	for (int t = 0; t <= NR_CALLERS; t++)
		pthread_join(callers[t], NULL);
	callers_running = false;
}

/* Let the callers run for @ms milliseconds. */
static void callers_run(int ms) { usleep((useconds_t)ms * 1000); }

/* ------------------------------------------------------------------------
 * Updates and their outcomes
 * ------------------------------------------------------------------------ */
#define KEY_FN_BYTES 64
struct snap {
	uint8_t tramp[ST_KEYS][16];
	uint8_t key_fn[KEY_FN_BYTES];
};

static void snap_take(struct snap *s)
{
	for (int i = 0; i < ST_KEYS; i++)
		for (int b = 0; b < 16; b++)
			s->tramp[i][b] = code_byte((uintptr_t)st_key[i]->tramp +
						   (uintptr_t)b);
	for (int b = 0; b < KEY_FN_BYTES; b++)
		s->key_fn[b] =
			code_byte((uintptr_t)fi_key_probe + (uintptr_t)b);
}

enum outcome { O_OK, O_RESTORED, O_PINNED };

struct op {
	struct st_plan pl;
	int key_to; /* -1: the key is not in the batch */
};

static bool pinned_call[ST_KEYS], pinned_key;
static bool delay_commit; /* commit generations 1 ms after the update */
/* ... and take them back 1 ms after a failed one: the store protocol's
 * stores, undone after their sync failed, may still run on a core that
 * has not serialised (nothing can make it serialise then) */
static bool delay_failed;

/* A random update: 1..4 static calls (none that is pinned), and the key
 * with probability @key_pct. */
static void op_random(struct op *op, unsigned int *seed, int key_pct)
{
	int n = 0;

	st_plan_random(&op->pl, seed, 0, ST_KEYS, false);
	for (int j = 0; j < op->pl.n; j++) {
		if (pinned_call[op->pl.key[j]])
			continue;
		op->pl.key[n] = op->pl.key[j];
		op->pl.k[n] = op->pl.k[j];
		n++;
	}
	op->pl.n = n;
	op->key_to = -1;
	if (!pinned_key && ((int)(rand_r(seed) % 100) < key_pct || n == 0))
		op->key_to = !static_key_enabled(&fi_key);
}

/* Every static call (and the key) to a new target, in one batch. */
static void op_all(struct op *op, bool with_key)
{
	memset(op, 0, sizeof(*op));
	op->pl.n = ST_KEYS;
	for (int i = 0; i < ST_KEYS; i++) {
		op->pl.key[i] = i;
		op->pl.k[i] = (st_current(i) + 1 + i) % ST_LOCAL;
		if (op->pl.k[i] == st_current(i))
			op->pl.k[i] = (op->pl.k[i] + 1) % ST_LOCAL;
	}
	op->key_to = with_key ? !static_key_enabled(&fi_key) : -1;
}

static int op_apply(const struct op *op)
{
	struct static_call_batch_entry ents[ST_KEYS + 1];
	struct static_call_batch b;
	int err = static_call_batch_init(&b, ents, ST_KEYS + 1);

	for (int j = 0; !err && j < op->pl.n; j++)
		err = st_batch_add(&b, op->pl.key[j], op->pl.k[j]);
	if (!err && op->key_to == 1)
		err = static_branch_batch_enable(&b, &fi_key);
	if (!err && op->key_to == 0)
		err = static_branch_batch_disable(&b, &fi_key);
	return err ? err : static_call_batch_commit(&b);
}

/* Publish and commit generation @k for static call @i at once. */
static void gen_set(int i, int k)
{
	struct st_plan pl = {.n = 1, .key = {i}, .k = {k}};

	st_plan_publish(&pl);
	st_plan_commit(&pl);
}

/* The target static call @i must reach now, and the key's state. */
static int gen_want(int i)
{
	unsigned long p = atomic_load(&st_gen[i].pending);
	return (int)(atomic_load(&st_gen[i].ring[p % ST_RING]) & 0xff);
}

static int key_want(void)
{
	unsigned long p = atomic_load(&key_gen.pending);
	return (int)(atomic_load(&key_gen.ring[p % ST_RING]) & 0xff);
}

/* No update under way: this thread reaches exactly the latest targets. */
static void check_strict(const char *when)
{
	for (int i = 0; i < ST_KEYS; i++) {
		int x = 4242 + i, k = st_decode(i, x, st_call(i, x));
		CHECK(k == gen_want(i),
		      "%s: static call %d reaches target %d, "
		      "want %d",
		      when, i, k, gen_want(i));
	}
	CHECK(fi_key_probe() == key_want(), "%s: key probe %d, want %d", when,
	      fi_key_probe(), key_want());
}

/*
 * Run @op.  On success the generations are committed.  On failure, either
 * nothing changed (every static call and the key keep their old targets:
 * a revert generation makes anything else a wrong result from now on) or
 * the batch is pinned: each site that changed behaves as its new code for
 * good.  Returns the outcome; *@errp gets the return code.
 */
/* Do two trampolines' bytes go to the same place?  A failed store-protocol
 * update puts the instruction back but may keep a slot that the old
 * instruction does not read (x86-64: the slot at 8..15 is read only by
 * the far form, ff 25). */
static bool tramp_same(const uint8_t *a, const uint8_t *b)
{
	if (memcmp(a, b, 8) != 0)
		return false;
	return (a[0] == 0xff && a[1] == 0x25) ? !memcmp(a + 8, b + 8, 8) : true;
}

static enum outcome op_run(const struct op *op, int *errp)
{
	struct snap before, after;
	struct st_plan pl = op->pl;
	int oldk[ST_KEYS], oldkey = static_key_enabled(&fi_key);
	unsigned long kgen = 0;
	bool changed = false;
	int err;

	for (int i = 0; i < ST_KEYS; i++)
		oldk[i] = st_current(i);
	snap_take(&before);
	st_plan_publish(&pl);
	if (op->key_to >= 0)
		kgen = key_publish(op->key_to);
	err = op_apply(op);
	*errp = err;
	if (!err) {
		if (delay_commit)
			usleep(1000);
		st_plan_commit(&pl);
		if (op->key_to >= 0)
			key_commit(kgen);
		R->ok++;
		check_strict("after an update");
		return O_OK;
	}
	R->errors++;
	if (!R->first_err)
		R->first_err = err;
	if (delay_failed)
		usleep(1000);
	snap_take(&after);
	CHECK(static_key_enabled(&fi_key) == oldkey,
	      "key state changed by a failed update");
	for (int j = 0; j < op->pl.n; j++) {
		int i = op->pl.key[j];
		CHECK(st_current(i) == oldk[i],
		      "static call %d: key changed by a failed update", i);
		if (tramp_same(before.tramp[i], after.tramp[i])) {
			gen_set(i, oldk[i]);
		} else {
			/* pinned: new for good (emulated, or complete) */
			changed = true;
			pinned_call[i] = true;
			gen_set(i, op->pl.k[j]);
		}
	}
	for (int i = 0; i < ST_KEYS; i++) {
		bool in = false;
		for (int j = 0; j < op->pl.n; j++)
			in |= op->pl.key[j] == i;
		CHECK(in || tramp_same(before.tramp[i], after.tramp[i]),
		      "static call %d, not in the batch, changed", i);
	}
	if (op->key_to >= 0) {
		bool same = !memcmp(before.key_fn, after.key_fn, KEY_FN_BYTES);
		changed |= !same;
		pinned_key |= !same;
		key_commit(key_publish(same ? oldkey : op->key_to));
	} else {
		CHECK(!memcmp(before.key_fn, after.key_fn, KEY_FN_BYTES),
		      "key site changed, key not in the batch");
	}
	check_strict(changed ? "after a pinned update" : "after a failure");
	if (changed)
		R->pinned++;
	else
		R->restored++;
	return changed ? O_PINNED : O_RESTORED;
}

/* ------------------------------------------------------------------------
 * The trace hook: counts the int3 steps, arms faults at a chosen step
 * ------------------------------------------------------------------------ */
static int arm_step = -1;	     /* step at which to arm */
static const struct rule *arm_rules; /* a seccomp filter, or */
static int arm_nrules;
static bool arm_injector; /* the transient faults in inj.spec */
static _Atomic unsigned long int3_steps, int3_seen;

static void fi_hook(enum static_call_trace_step step, unsigned int nr)
{
	(void)nr;
	if (step == STATIC_CALL_TRACE_INT3) {
		atomic_fetch_add(&int3_steps, 1);
		for (int i = 0; i < ST_KEYS; i++)
			if (code_byte((uintptr_t)st_key[i]->tramp) == 0xcc)
				atomic_fetch_add(&int3_seen, 1);
	}
	if ((int)step != arm_step)
		return;
	arm_step = -1;
	if (arm_rules) {
		CHECK(install_filter(arm_rules, arm_nrules) == 0,
		      "seccomp from the hook: %s", strerror(errno));
		R->faults++;
	}
	if (arm_injector) {
		for (int c = 0; c < C_N; c++)
			atomic_store(&inj.seen[c], 0);
		atomic_store(&inj.armed, 1);
	}
}

/* ------------------------------------------------------------------------
 * Child set-up and report
 * ------------------------------------------------------------------------ */
static void child_setup(const char *protocol, const char *write, bool hook)
{
	if (!getenv("FAULTS_LOG")) /* FAULTS_LOG=1: the library's messages */
		static_call_set_print(st_count_log);
	st_crash_report(true);
	CHECK(static_call_set_option("protocol", protocol) == 0, "protocol");
	if (!strcmp(protocol, "store"))
		sc_test_wx_allow_alias(1);
	CHECK(static_call_set_option("write", write) == 0, "write");
	/* no thread here blocks SIGTRAP; under load, a caller preempted
	 * inside the library's own SIGTRAP handler could be taken for one
	 * (-EAGAIN) and blur the outcomes this test asserts */
	CHECK(static_call_set_option("sigtrap_check", "off") == 0, "check");
	if (hook)
		CHECK(static_call_update(static_call_trace_hook, fi_hook) == 0,
		      "setting the trace hook");
	st_gen_reset();
	memset(&key_gen, 0, sizeof(key_gen));
	for (int n = 0; n < ST_RING; n++)
		atomic_store(&key_gen.ring[n], ~0ul);
	atomic_store(&key_gen.ring[0], (unsigned long)fi_key_probe());
}

static struct static_call_stats st0;

static void child_finish(void)
{
	struct static_call_stats st;

	callers_stop();
	check_strict("at the end");
	static_call_get_stats(&st, sizeof(st));
	R->calls = atomic_load(&counts.calls);
	R->wrong = atomic_load(&counts.wrong);
	R->unknown = atomic_load(&counts.unknown);
	R->key_calls = atomic_load(&key_calls);
	R->key_wrong = atomic_load(&key_wrong);
	R->traps = st.traps_emulated - st0.traps_emulated;
	R->rewound = st.traps_rewound - st0.traps_rewound;
	R->procmem = st.writes_procmem - st0.writes_procmem;
	R->mprotect = st.writes_mprotect - st0.writes_mprotect;
	R->view = st.writes_view - st0.writes_view;
	R->segv = st.segv_waits - st0.segv_waits;
	R->int3_steps = atomic_load(&int3_steps);
	R->i2_bad = atomic_load(&inj.i2_bad);
	R->code_writes = atomic_load(&inj.code_writes);
	R->faults += atomic_load(&inj.injected);
	R->wx_scans = sc_test_wx_scans();
	R->log = atomic_load(&st_log_count);
	CHECK(R->wrong == 0, "%lu wrong results", R->wrong);
	CHECK(R->key_wrong == 0, "%lu wrong key observations", R->key_wrong);
	CHECK(R->i2_bad == 0, "%lu code writes broke I2", R->i2_bad);
	CHECK(st.traps_foreign == st0.traps_foreign, "foreign traps");
	if (R->fail[0])
		st_report_wrong();
	R->finished = 1;
}

/* Run @fn in a child; returns its exit status as waitpid() gave it. */
static int run_child(const char *name, void (*fn)(void))
{
	int status = 0;
	pid_t pid;

	memset(R, 0, sizeof(*R));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		alarm(CHILD_ALARM + (unsigned int)(5 * sc_test_seconds(1.0)));
		static_call_get_stats(&st0, sizeof(st0));
		fn();
		_exit(R->fail[0] ? 1 : 0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	printf("  %-28s ok=%lu (alone %lu, sync failed %lu) restored=%lu "
	       "pinned=%lu errors=%lu (first %s) faults=%lu calls=%lu "
	       "key_calls=%lu traps=%lu "
	       "rewound=%lu procmem=%lu mprotect=%lu view=%lu segv=%lu "
	       "int3_steps=%lu code_writes=%lu i2_bad=%lu wx_scans=%lu "
	       "eilseq=%lu unchecked=%lu wrong=%lu\n",
	       name, R->ok, R->ok_alone, R->ok_sync_failed, R->restored,
	       R->pinned, R->errors,
	       R->first_err ? strerror(-R->first_err) : "-", R->faults,
	       R->calls, R->key_calls, R->traps, R->rewound, R->procmem,
	       R->mprotect, R->view, R->segv, R->int3_steps, R->code_writes,
	       R->i2_bad, R->wx_scans, R->eilseq, R->unknown,
	       R->wrong + R->key_wrong);
	if (R->fail[0])
		printf("  %s: FAILED: %s\n", name, R->fail);
	if (WIFSIGNALED(status))
		printf("  %s: child killed by signal %d (%s)\n", name,
		       WTERMSIG(status), strsignal(WTERMSIG(status)));
	fflush(stdout);
	return status;
}

static void expect_child(const char *name, void (*fn)(void))
{
	int status = run_child(name, fn);

	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(R->finished, 1);
	assert_string_equal(R->fail, "");
	assert_int_equal(R->wrong + R->key_wrong, 0);
	assert_int_equal(R->i2_bad, 0);
	assert_true(R->calls > 0);
	assert_true(R->key_calls > 0);
}

/* ------------------------------------------------------------------------
 * Checks shared by the scenarios
 * ------------------------------------------------------------------------ */

/* Pinned static calls and key: later updates are refused with -EILSEQ and
 * change nothing; calls keep reaching the new code (through traps where
 * byte 0 is int3). */
static void check_pinned(void)
{
	for (int i = 0; i < ST_KEYS; i++) {
		struct snap a, b;
		struct static_call_stats s0, s1;
		bool trapping;
		int err;

		if (!pinned_call[i])
			continue;
		/* to another target, and to the one its key still names */
		for (int t = 0; t < 2; t++) {
			int k = t ? st_current(i) : (st_current(i) + 1) % 4;
			if (k == gen_want(i))
				k = (k + 1) % ST_LOCAL;
			snap_take(&a);
			err = st_update(i, k);
			snap_take(&b);
			CHECK(err == -EILSEQ,
			      "update of pinned static call %d to %d: %d", i, k,
			      err);
			CHECK(!memcmp(&a, &b, sizeof(a)),
			      "a refused update wrote");
			R->eilseq += err == -EILSEQ;
		}
		trapping = code_byte((uintptr_t)st_key[i]->tramp) == 0xcc;
		static_call_get_stats(&s0, sizeof(s0));
		for (int n = 0; n < 100; n++) {
			int x = 100 + n;
			CHECK(st_decode(i, x, st_call(i, x)) == gen_want(i),
			      "pinned static call %d: wrong target", i);
		}
		static_call_get_stats(&s1, sizeof(s1));
		CHECK(!trapping || s1.traps_emulated - s0.traps_emulated >= 100,
		      "pinned static call %d: calls did not trap", i);
	}
	if (pinned_key) {
		struct snap a, b;
		int err;
		/* a toggle, and a "toggle" to the state the key still has */
		for (int t = 0; t < 2; t++) {
			bool on = t ? static_key_enabled(&fi_key) : !key_want();
			snap_take(&a);
			err = on ? static_branch_enable(&fi_key)
				 : static_branch_disable(&fi_key);
			snap_take(&b);
			CHECK(err == -EILSEQ, "pinned key set to %d: %d", on,
			      err);
			CHECK(!memcmp(&a, &b, sizeof(a)),
			      "a refused toggle wrote");
			R->eilseq += err == -EILSEQ;
		}
	}
}

/* @n random updates; each must end as @want (or, with @want_key, as
 * @want_key when the key is in the batch), failing with @err. */
static void ops(int n, unsigned int seed, int key_pct, enum outcome want,
		int err_want, enum outcome want_key)
{
	for (int j = 0; j < n; j++) {
		struct op op;
		enum outcome w, o;
		int err;

		op_random(&op, &seed, key_pct);
		if (op.pl.n == 0 && op.key_to < 0)
			continue; /* everything is pinned */
		w = op.key_to >= 0 ? want_key : want;
		o = op_run(&op, &err);
		CHECK(o == w, "update %d: outcome %d (%s), want %d", j, o,
		      strerror(-err), w);
		CHECK(w == O_OK || err == err_want, "update %d: %s, want %s", j,
		      strerror(-err), strerror(-err_want));
		if (j % 8 == 7)
			callers_run(1);
	}
}

/* The memfd views never appeared. */
static void check_no_views(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	CHECK(f != NULL, "maps");
	while (f && fgets(line, sizeof(line), f))
		CHECK(!strstr(line, "staticcall-text"), "a view: %s", line);
	if (f)
		fclose(f);
}

/*
 * A late trap, made by hand: the library's SIGTRAP handler called as the
 * kernel would call it for an int3 at @site handled after its batch ended.
 * Returns the RIP the handler leaves: @site (re-run) or where it emulated.
 */
static uintptr_t late_trap(uintptr_t site)
{
	struct sigaction sa;
	siginfo_t si;
	ucontext_t uc;

	sigaction(SIGTRAP, NULL, &sa);
	CHECK(sa.sa_flags & SA_SIGINFO, "no SIGTRAP handler of the library");
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGTRAP;
	si.si_code = 0x80; /* SI_KERNEL: a user-mode int3 */
	getcontext(&uc);
	uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(site + 1);
	sa.sa_sigaction(SIGTRAP, &si, &uc);
	return (uintptr_t)uc.uc_mcontext.gregs[REG_RIP];
}

/* ------------------------------------------------------------------------
 * (a) membarrier unavailable from the start
 * ------------------------------------------------------------------------ */
#define N_FAIL 40

static const struct rule *s_rules;
static int s_nrules;
static const char *s_protocol, *s_write;
static int s_err;

static void s_membarrier_gone(void)
{
	CHECK(install_filter(s_rules, s_nrules) == 0, "seccomp");
	child_setup(s_protocol, "auto", false);
	callers_start();
	/* several threads and no way to synchronise them: -ENOSYS */
	ops(N_FAIL, 1, 30, O_RESTORED, -ENOSYS, O_RESTORED);
	callers_run(50);
	callers_stop();
	/* one thread left: patched, with cpuid as the only sync */
	ops(10, 2, 30, O_OK, 0, O_OK);
	R->ok_alone = 10;
	child_finish();
}

static void run_membarrier_gone(const struct rule *r, int n, const char *p)
{
	s_rules = r;
	s_nrules = n;
	s_protocol = p;
	expect_child(p[0] == 'i' ? "membarrier gone, int3" : "membarrier gone",
		     s_membarrier_gone);
	assert_int_equal(R->restored, N_FAIL);
	assert_int_equal(R->ok, 10);
	assert_int_equal(R->first_err, -ENOSYS);
}

static void test_membarrier_enosys(void **state)
{
	(void)state;
	run_membarrier_gone(FILTER(membarrier_enosys), "auto");
	run_membarrier_gone(FILTER(membarrier_enosys), "int3");
}

static void test_membarrier_eperm(void **state)
{
	(void)state;
	run_membarrier_gone(FILTER(membarrier_eperm), "auto");
	run_membarrier_gone(FILTER(membarrier_eperm), "int3");
}

/* Registration works (and the query), every SYNC_CORE fails: the int3
 * protocol stops at its first sync and restores; a flip maps the old
 * copies back, stores are stored back: an update that could not make
 * every core see it fails (-ENOSYS), whatever the protocol. */
static void s_sync_core_fails(void)
{
	sc_test_wx_start();
	CHECK(install_filter(FILTER(sync_core_eperm)) == 0, "seccomp");
	child_setup(s_protocol, "auto", false);
	callers_start();
	delay_commit = true;
	delay_failed = !strcmp(s_protocol, "store");
	ops(N_FAIL, 3, 30, O_RESTORED, -ENOSYS, O_RESTORED);
	callers_run(20);
	child_finish();
}

static void test_sync_core_fails(void **state)
{
	(void)state;
	s_protocol = "int3";
	expect_child("SYNC_CORE fails, int3", s_sync_core_fails);
	assert_int_equal(R->restored, N_FAIL);
	s_protocol = "store";
	expect_child("SYNC_CORE fails, store", s_sync_core_fails);
	assert_int_equal(R->restored, N_FAIL);
	s_protocol = "auto";
	expect_child("SYNC_CORE fails", s_sync_core_fails);
	assert_int_equal(R->restored, N_FAIL);
}

/* ------------------------------------------------------------------------
 * (b) /proc/self/mem blocked, (c) mprotect failing, (d) no memfd views
 * ------------------------------------------------------------------------ */
static enum outcome s_want, s_want_key;

static void s_blocked(void)
{
	sc_test_wx_start();
	child_setup(s_protocol, s_write, false);
	callers_start();
	/* after the threads exist: mprotect may be what is blocked */
	CHECK(install_filter(s_rules, s_nrules) == 0, "seccomp");
	static_call_get_stats(&st0, sizeof(st0));
	ops(N_FAIL, 4, 40, s_want, s_err, s_want_key);
	callers_run(20);
	child_finish();
}

static void run_blocked(const char *name, const struct rule *r, int n,
			const char *protocol, const char *write,
			enum outcome want, enum outcome want_key, int err)
{
	s_rules = r;
	s_nrules = n;
	s_protocol = protocol;
	s_write = write;
	s_want = want;
	s_want_key = want_key;
	s_err = err;
	expect_child(name, s_blocked);
	assert_true(R->wx_scans > 0);
}

static void test_procmem_blocked(void **state)
{
	(void)state;
	/* the mprotect window takes over */
	run_blocked("pwrite64 EPERM", FILTER(pwrite_eperm), "int3", "auto",
		    O_OK, O_OK, 0);
	assert_int_equal(R->ok, N_FAIL);
	assert_int_equal(R->procmem, 0);
	assert_true(R->mprotect > 0);
	run_blocked("open(O_RDWR) EPERM", FILTER(open_rdwr_eperm), "int3",
		    "auto", O_OK, O_OK, 0);
	assert_int_equal(R->ok, N_FAIL);
	assert_int_equal(R->procmem, 0);
	assert_true(R->mprotect > 0);
	/* no fallback allowed: refused, nothing written */
	run_blocked("pwrite64 EPERM, write=procmem", FILTER(pwrite_eperm),
		    "int3", "procmem", O_RESTORED, O_RESTORED, -EPERM);
	assert_int_equal(R->restored, N_FAIL);
	assert_int_equal(R->procmem + R->mprotect, 0);
}

static void test_mprotect_fails(void **state)
{
	(void)state;
	run_blocked("mprotect EACCES, int3", FILTER(mprotect_eacces), "int3",
		    "mprotect", O_RESTORED, O_RESTORED, -EACCES);
	assert_int_equal(R->restored, N_FAIL);
	assert_int_equal(R->mprotect, 0);
	/* the store protocol: trampolines have writable views, only the key
	 * site needs the mprotect window */
	run_blocked("mprotect EACCES, store", FILTER(mprotect_eacces), "store",
		    "mprotect", O_OK, O_RESTORED, -EACCES);
	assert_int_equal(R->mprotect, 0);
	assert_true(R->ok > 0);
	assert_true(R->restored > 0);
	/* page flips write no code in place: nothing needs it */
	run_blocked("mprotect EACCES", FILTER(mprotect_eacces), "auto",
		    "mprotect", O_OK, O_OK, 0);
	assert_int_equal(R->mprotect, 0);
	assert_int_equal(R->ok, N_FAIL);
}

static void s_no_views(void)
{
	sc_test_wx_start();
	CHECK(install_filter(s_rules, s_nrules) == 0, "seccomp");
	child_setup("auto", "auto", true);
	callers_start();
	ops(N_FAIL, 5, 30, O_OK, 0, O_OK);
	callers_run(20);
	check_no_views();
	child_finish();
}

static void test_no_memfd(void **state)
{
	(void)state;
	s_rules = memfd_eperm;
	s_nrules = 1;
	expect_child("memfd_create EPERM", s_no_views);
	assert_int_equal(R->ok, N_FAIL);
	assert_int_equal(R->view, 0);
	assert_true(R->procmem > 0);
	assert_true(R->int3_steps > 0);
	s_rules = exec_mmap_eacces;
	expect_child("mmap(PROT_EXEC) EACCES", s_no_views);
	assert_int_equal(R->ok, N_FAIL);
	assert_int_equal(R->view, 0);
	assert_true(R->procmem > 0);
	assert_true(R->int3_steps > 0);
}

/* ------------------------------------------------------------------------
 * (e) A filter installed from the trace hook, in the middle of an update
 * ------------------------------------------------------------------------ */
static int m_step;
static enum outcome m_want;

static void s_midway(void)
{
	struct op op;
	enum outcome o;
	int err;

	sc_test_wx_start();
	child_setup(s_protocol, "auto", true);
	callers_start();
	ops(20, 6, 30, O_OK, 0, O_OK);
	callers_run(20);
	op_all(&op, true);
	arm_rules = s_rules;
	arm_nrules = s_nrules;
	arm_step = m_step;
	o = op_run(&op, &err);
	CHECK(o == m_want, "outcome %d (%s), want %d", o, strerror(-err),
	      m_want);
	callers_run(50);
	if (o == O_PINNED)
		check_pinned();
	/* the filter stays: later updates may fail, never pin */
	delay_commit = true;
	for (int j = 0; j < 10; j++) {
		op_random(&op, &(unsigned int){7u + (unsigned int)j}, 30);
		if (op.pl.n == 0 && op.key_to < 0)
			continue; /* everything is pinned */
		CHECK(op_run(&op, &err) != O_PINNED, "a later update pinned");
	}
	callers_run(20);
	child_finish();
}

static void run_midway(const char *name, int step, const struct rule *r, int n,
		       const char *protocol, enum outcome want)
{
	m_step = step;
	s_rules = r;
	s_nrules = n;
	s_protocol = protocol;
	m_want = want;
	expect_child(name, s_midway);
	assert_int_equal(R->faults, 1);
	if (want == O_PINNED) {
		assert_int_equal(R->pinned, 1);
		assert_true(R->eilseq > 0);
	}
}

static void test_midway_begin(void **state)
{
	(void)state;
	/* int3 written, first sync fails: first bytes put back */
	run_midway("BEGIN: membarrier EPERM", STATIC_CALL_TRACE_BEGIN,
		   FILTER(membarrier_eperm), "int3", O_RESTORED);
	/* the first int3 cannot be written: nothing to undo */
	run_midway("BEGIN: writes blocked", STATIC_CALL_TRACE_BEGIN,
		   FILTER(writes_blocked), "int3", O_RESTORED);
}

static void test_midway_int3(void **state)
{
	(void)state;
	/* tails written, second sync fails; restoring them needs a sync */
	run_midway("INT3: membarrier EPERM", STATIC_CALL_TRACE_INT3,
		   FILTER(membarrier_eperm), "int3", O_PINNED);
	/* tails cannot be written, nor the first bytes put back */
	run_midway("INT3: writes blocked", STATIC_CALL_TRACE_INT3,
		   FILTER(writes_blocked), "int3", O_PINNED);
	/* trampolines trap-free (untouched before the last step), the key
	 * site through int3: only the key is pinned */
	run_midway("INT3: membarrier EPERM, mixed", STATIC_CALL_TRACE_INT3,
		   FILTER(membarrier_eperm), "store", O_PINNED);
}

static void test_midway_tail(void **state)
{
	(void)state;
	/* the last sync failing is harmless: done */
	run_midway("TAIL: membarrier EPERM", STATIC_CALL_TRACE_TAIL,
		   FILTER(membarrier_eperm), "int3", O_OK);
	/* first bytes cannot be written, nor tails put back */
	run_midway("TAIL: writes blocked", STATIC_CALL_TRACE_TAIL,
		   FILTER(writes_blocked), "int3", O_PINNED);
	run_midway("TAIL: writes blocked, mixed", STATIC_CALL_TRACE_TAIL,
		   FILTER(writes_blocked), "store", O_PINNED);
}

/* ------------------------------------------------------------------------
 * (f) Transient faults: one or two calls fail, the rest work
 * ------------------------------------------------------------------------ */
static struct fault f_spec;
static bool f_key, f_late;
static int f_updates;

static void s_transient(void)
{
	struct op op;
	enum outcome o;
	int err;

	sc_test_wx_start();
	injector_install();
	child_setup(s_protocol, "procmem", true);
	callers_start();
	ops(10, 8, 50, O_OK, 0, O_OK); /* the injector learns the sites */
	callers_run(10);
	op_all(&op, f_key);
	inj.spec = f_spec;
	arm_injector = true;
	arm_step = STATIC_CALL_TRACE_BEGIN;
	o = op_run(&op, &err);
	atomic_store(&inj.armed, 0);
	arm_injector = false;
	CHECK(o == m_want, "outcome %d (%s), want %d", o, strerror(-err),
	      m_want);
	CHECK(atomic_load(&inj.injected) == (f_spec.at[1] ? 2u : 1u),
	      "%lu faults injected", atomic_load(&inj.injected));
	callers_run(30);
	if (o == O_PINNED)
		check_pinned();
	if (f_late) {
		/* a static call of the batch that was restored: updated
		 * again, a late trap on it must re-run it, not emulate the
		 * pinned batch's instruction */
		int r = -1;
		for (int j = 0; j < op.pl.n; j++)
			if (!pinned_call[op.pl.key[j]])
				r = op.pl.key[j];
		CHECK(r >= 0, "no static call of the batch was restored");
		if (r >= 0) {
			struct op again = {.pl = {.n = 1, .key = {r}}};
			uintptr_t t = (uintptr_t)st_key[r]->tramp;
			again.pl.k[0] = (gen_want(r) + 1) % ST_LOCAL;
			again.key_to = -1;
			CHECK(op_run(&again, &err) == O_OK, "update: %s",
			      strerror(-err));
			CHECK(late_trap(t) == t,
			      "a late trap on a restored site is emulated "
			      "from the pinned batch");
			R->late_rewound += late_trap(t) == t;
		}
		for (int i = 0; i < ST_KEYS; i++) {
			uintptr_t t = (uintptr_t)st_key[i]->tramp;
			if (!pinned_call[i] || code_byte(t) != 0xcc)
				continue;
			CHECK(late_trap(t) ==
				      (uintptr_t)st_target[i][gen_want(i)],
			      "a trap on a pinned site is not emulated");
		}
	}
	/* the injector is off: later updates work */
	ops(10, 9, 50, O_OK, 0, O_OK);
	callers_run(10);
	child_finish();
}

static void run_transient(const char *name, int c0, long at0, int c1, long at1,
			  enum outcome want)
{
	f_spec = (struct fault){{c0, c1}, {at0, at1}};
	m_want = want;
	expect_child(name, s_transient);
	assert_int_equal(R->faults, at1 ? 2 : 1);
	assert_true(R->code_writes > 0);
	if (want == O_RESTORED)
		assert_int_equal(R->restored, 1);
	if (want == O_PINNED) {
		assert_int_equal(R->pinned, 1);
		assert_true(R->eilseq > 0);
	}
}

static void test_transient_restored(void **state)
{
	(void)state;
	/* one batch of five int3 sites (four trampolines and the key's
	 * site); each fault below is undone completely */
	s_protocol = "int3";
	f_key = true;
	f_late = false;
	run_transient("int3 #1 fails", C_INT3, 1, 0, 0, O_RESTORED);
	run_transient("int3 #3 fails", C_INT3, 3, 0, 0, O_RESTORED);
	run_transient("sync #1 fails", C_SYNC, 1, 0, 0, O_RESTORED);
	run_transient("tail #1 fails", C_TAIL, 1, 0, 0, O_RESTORED);
	run_transient("tail #3 fails", C_TAIL, 3, 0, 0, O_RESTORED);
	run_transient("sync #2 fails", C_SYNC, 2, 0, 0, O_RESTORED);
	run_transient("head #1 fails", C_HEAD, 1, 0, 0, O_RESTORED);
	run_transient("head #3 fails", C_HEAD, 3, 0, 0, O_RESTORED);
	run_transient("head #5 fails", C_HEAD, 5, 0, 0, O_RESTORED);
	/* the last sync: the patch is complete */
	run_transient("sync #3 fails", C_SYNC, 3, 0, 0, O_OK);
}

static void test_transient_pinned(void **state)
{
	(void)state;
	s_protocol = "int3";
	f_key = true;
	f_late = false;
	/* head #3 fails, then the int3 that must cover site 1 again
	 * before its tail goes back (int3 #6) */
	run_transient("head #3, re-int3 #6 fail", C_HEAD, 3, C_INT3, 6,
		      O_PINNED);
	run_transient("head #3, its sync fail", C_HEAD, 3, C_SYNC, 3, O_PINNED);
	run_transient("tail #1, its undo fail", C_TAIL, 1, C_TAIL, 2, O_PINNED);
	run_transient("sync #2, undo sync fail", C_SYNC, 2, C_SYNC, 3,
		      O_PINNED);
	/* four trampolines; head #3 fails, putting back first bytes stops
	 * at the second site (head #5): the first is restored, the others
	 * pinned */
	f_key = false;
	f_late = true;
	run_transient("head #3, undo head #5 fail", C_HEAD, 3, C_HEAD, 5,
		      O_PINNED);
	assert_int_equal(R->late_rewound, 1);
}

/* Hundreds of updates, each with one fault at a random call. */
static void s_torture(void)
{
	unsigned int seed = 99;
	unsigned long hit_ok = 0;

	sc_test_wx_start();
	injector_install();
	child_setup(s_protocol, "procmem", true);
	callers_start();
	ops(5, 10, 50, O_OK, 0, O_OK);
	for (int j = 0; j < f_updates; j++) {
		unsigned long before = atomic_load(&inj.injected);
		struct op op;
		enum outcome o;
		int c = rand_r(&seed) % C_N, err;

		op_random(&op, &seed, 50);
		inj.spec = (struct fault){{c, 0}, {1 + rand_r(&seed) % 6, 0}};
		arm_injector = true;
		arm_step = STATIC_CALL_TRACE_BEGIN;
		o = op_run(&op, &err);
		atomic_store(&inj.armed, 0);
		arm_injector = false;
		CHECK(o != O_PINNED, "one transient fault pinned a batch");
		if (atomic_load(&inj.injected) != before && o == O_OK) {
			/* only a sync may fail without failing the update */
			CHECK(c == C_SYNC, "a failed %s write went unnoticed",
			      cls_name[c]);
			hit_ok++;
		}
		if (j % 16 == 15)
			callers_run(1);
	}
	callers_run(10);
	R->ok_sync_failed = hit_ok;
	child_finish();
}

static void test_transient_torture(void **state)
{
	(void)state;
	f_updates = (int)(300 * sc_test_seconds(1.0));
	s_protocol = "int3";
	expect_child("random faults, int3", s_torture);
	assert_true(R->restored > 0);
	assert_true(R->faults > 0);
	assert_int_equal(R->pinned, 0);
	s_protocol = "auto";
	expect_child("random faults, mixed", s_torture);
	assert_true(R->restored > 0);
	assert_int_equal(R->pinned, 0);
}

/* ------------------------------------------------------------------------
 * The W^X checker catches a writable and executable mapping
 * ------------------------------------------------------------------------ */
static void s_wx(void)
{
	void *p;

	sc_test_wx_start();
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED, "mmap");
	sleep(5); /* the checker exits with 97 well before */
	R->finished = 1;
}

static void test_wx_checker(void **state)
{
	int status;
	(void)state;
	status = run_child("W^X checker self-test", s_wx);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 97);
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	const struct CMUnitTest syscalls[] = {
		cmocka_unit_test(test_membarrier_enosys),
		cmocka_unit_test(test_membarrier_eperm),
		cmocka_unit_test(test_sync_core_fails),
		cmocka_unit_test(test_procmem_blocked),
		cmocka_unit_test(test_mprotect_fails),
		cmocka_unit_test(test_no_memfd),
	};
	const struct CMUnitTest midway[] = {
		cmocka_unit_test(test_midway_begin),
		cmocka_unit_test(test_midway_int3),
		cmocka_unit_test(test_midway_tail),
	};
	const struct CMUnitTest transient[] = {
		cmocka_unit_test(test_transient_restored),
		cmocka_unit_test(test_transient_pinned),
		cmocka_unit_test(test_transient_torture),
	};
	const struct CMUnitTest wx[] = {
		cmocka_unit_test(test_wx_checker),
	};
	const char *group = argc > 1 ? argv[1] : "";

	R = mmap(NULL, sizeof(*R), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (R == MAP_FAILED)
		return 1;
	sc_test_watchdog(60 * sc_test_seconds(1.0) + 60);
	if (!strcmp(group, "syscalls"))
		return cmocka_run_group_tests(syscalls, NULL, NULL);
	if (!strcmp(group, "midway"))
		return cmocka_run_group_tests(midway, NULL, NULL);
	if (!strcmp(group, "transient"))
		return cmocka_run_group_tests(transient, NULL, NULL);
	if (!strcmp(group, "wx"))
		return cmocka_run_group_tests(wx, NULL, NULL);
	fprintf(stderr, "usage: %s syscalls|midway|transient|wx\n", argv[0]);
	return 2;
}
