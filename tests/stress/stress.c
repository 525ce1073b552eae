/* SPDX-License-Identifier: MIT */
/* The static calls and the generation bookkeeping of the stress tests. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "../arch.h"
#include "stress.h"

#define ST_F(i, k)                                                             \
	static int st_f##i##k(int x) { return x * 64 + i * ST_LOCAL + k; }
#define ST_FS(i) ST_F(i, 0) ST_F(i, 1) ST_F(i, 2) ST_F(i, 3)
ST_FS(0)
ST_FS(1)
ST_FS(2)
ST_FS(3)

DEFINE_STATIC_CALL(st_op0, st_f00);
DEFINE_STATIC_CALL(st_op1, st_f10);
DEFINE_STATIC_CALL(st_op2, st_f20);
DEFINE_STATIC_CALL(st_op3, st_f30);

#define ST_ROW(i)                                                              \
	{                                                                      \
		(void *)st_f##i##0, (void *)st_f##i##1, (void *)st_f##i##2,    \
			(void *)st_f##i##3, static_call_return0, (void *)abs,  \
	}

void *const st_target[ST_KEYS][ST_TARGETS] = {ST_ROW(0), ST_ROW(1), ST_ROW(2),
					      ST_ROW(3)};

struct static_call_key *const st_key[ST_KEYS] = {
	&STATIC_CALL_KEY(st_op0),
	&STATIC_CALL_KEY(st_op1),
	&STATIC_CALL_KEY(st_op2),
	&STATIC_CALL_KEY(st_op3),
};

struct st_gen st_gen[ST_KEYS];
struct st_wrong_info st_first_wrong;
_Thread_local struct st_plan *st_cur_plan;
_Atomic unsigned long st_log_count;

int st_current(int i)
{
	void *f = __atomic_load_n(&st_key[i]->func, __ATOMIC_ACQUIRE);

	for (int k = 0; k < ST_TARGETS; k++)
		if (st_target[i][k] == f)
			return k;
	return -1;
}

/* The public macros, so that the type check is part of what is tested. */
int st_update(int i, int k)
{
	st_fn_t *f = (st_fn_t *)st_target[i][k];

	switch (i) {
	case 0:
		return static_call_update(st_op0, f);
	case 1:
		return static_call_update(st_op1, f);
	case 2:
		return static_call_update(st_op2, f);
	default:
		return static_call_update(st_op3, f);
	}
}

int st_batch_add(struct static_call_batch *b, int i, int k)
{
	st_fn_t *f = (st_fn_t *)st_target[i][k];

	switch (i) {
	case 0:
		return static_call_batch_add(b, st_op0, f);
	case 1:
		return static_call_batch_add(b, st_op1, f);
	case 2:
		return static_call_batch_add(b, st_op2, f);
	default:
		return static_call_batch_add(b, st_op3, f);
	}
}

void st_gen_reset(void)
{
	for (int i = 0; i < ST_KEYS; i++) {
		struct st_gen *g = &st_gen[i];
		int k = st_current(i);
		for (int n = 0; n < ST_RING; n++)
			atomic_store(&g->ring[n], ~0ul);
		atomic_store(&g->ring[0], (unsigned long)k & 0xff);
		atomic_store(&g->pending, 0);
		atomic_store(&g->committed, 0);
	}
}

static unsigned long publish_one(int i, int k)
{
	struct st_gen *g = &st_gen[i];
	unsigned long n = atomic_load(&g->pending) + 1;

	atomic_store(&g->ring[n % ST_RING], n << 8 | (unsigned long)k);
	atomic_store(&g->pending, n);
	return n;
}

void st_plan_publish(struct st_plan *pl)
{
	for (int j = 0; j < pl->n; j++)
		pl->gen[j] = publish_one(pl->key[j], pl->k[j]);
}

void st_plan_commit(struct st_plan *pl)
{
	for (int j = 0; j < pl->n; j++) {
		struct st_gen *g = &st_gen[pl->key[j]];
		unsigned long n = pl->gen[j];
		unsigned long cur = atomic_load(&g->committed);
		while (n > cur &&
		       !atomic_compare_exchange_weak(&g->committed, &cur, n))
			;
		pl->gen[j] = 0;
	}
}

/* STRESS_NO_RET0=1 leaves out the RET0 target (for diagnosis only). */
static bool no_ret0(void)
{
	static _Atomic int cached = -1;
	int v = atomic_load(&cached);

	if (v < 0) {
		const char *e = getenv("STRESS_NO_RET0");
		v = e && *e && strcmp(e, "0") != 0;
		atomic_store(&cached, v);
	}
	return v;
}

void st_plan_random(struct st_plan *pl, unsigned int *seed, int key_lo,
		    int key_n, bool single)
{
	int start = rand_r(seed) % key_n;

	memset(pl, 0, sizeof(*pl));
	pl->n = single ? 1 : 1 + rand_r(seed) % key_n;
	for (int j = 0; j < pl->n; j++) {
		int i = key_lo + (start + j) % key_n;
		int cur = st_current(i), k;
		do
			k = (cur + 1 + rand_r(seed) % (ST_TARGETS - 1)) %
			    ST_TARGETS;
		while (k == ST_K_RET0 && no_ret0());
		pl->key[j] = i;
		pl->k[j] = k;
	}
}

int st_plan_apply(struct st_plan *pl, bool single)
{
	struct static_call_batch_entry ents[ST_KEYS];
	struct static_call_batch b;
	int err;

	if (single)
		return st_update(pl->key[0], pl->k[0]);
	err = static_call_batch_init(&b, ents, ST_KEYS);
	for (int j = 0; !err && j < pl->n; j++)
		err = st_batch_add(&b, pl->key[j], pl->k[j]);
	return err ? err : static_call_batch_commit(&b);
}

void st_hook_begin(enum static_call_trace_step step)
{
	struct st_plan *pl = st_cur_plan;

	if (step != STATIC_CALL_TRACE_BEGIN || !pl)
		return;
	st_plan_publish(pl);
}

void st_report_wrong(void)
{
	struct st_wrong_info *w = &st_first_wrong;

	if (!atomic_load(&w->taken))
		return;
	fprintf(stderr,
		"first wrong result (%s): static call %d, x=%d -> %d "
		"(target %d), legal generations [%lu, %lu]:",
		w->where, w->key, w->x, w->r, w->k, w->c, w->p);
	for (unsigned long n = w->c; n <= w->p && n < w->c + 8; n++) {
		unsigned long e =
			atomic_load(&st_gen[w->key].ring[n % ST_RING]);
		fprintf(stderr, " g%lu=k%lu", e >> 8, e & 0xff);
	}
	fprintf(stderr, "\n");
}

void *st_caller_thread(void *arg)
{
	struct st_caller_arg *a = arg;
	struct st_counts mine = {0};
	int x = a->seed % ST_XMAX + 1;

	while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
		for (int i = 0; i < ST_KEYS; i++) {
			st_call_checked(i, x, &mine, "caller thread");
			x = st_next_x(x);
		}
	}
	st_counts_add(a->cnt, &mine);
	return NULL;
}

void st_counts_add(struct st_counts *to, struct st_counts *from)
{
	atomic_fetch_add(&to->calls, atomic_load(&from->calls));
	atomic_fetch_add(&to->wrong, atomic_load(&from->wrong));
	atomic_fetch_add(&to->unknown, atomic_load(&from->unknown));
}

void st_count_log(enum static_call_print_level level, const char *msg)
{
	(void)level;
	(void)msg;
	atomic_fetch_add(&st_log_count, 1);
}

/* ------------------------------------------------------------------------
 * Crash reports: which thread died where, and the trampoline's bytes when
 * it died in one.  Plain system calls and hand-made formatting only.
 * ------------------------------------------------------------------------ */
struct out {
	char buf[512];
	size_t n;
};

static void put(struct out *o, const char *s)
{
	while (*s && o->n < sizeof(o->buf) - 1)
		o->buf[o->n++] = *s++;
}

static void put_num(struct out *o, unsigned long v, unsigned int base,
		    int width)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v && n < (int)sizeof(tmp));
	while (n < width)
		tmp[n++] = '0';
	while (n > 0 && o->n < sizeof(o->buf) - 1)
		o->buf[o->n++] = tmp[--n];
}

static void put_tramp(struct out *o, uintptr_t pc)
{
	static const char *const names[] = {"st_op0", "st_op1", "st_op2",
					    "st_op3", "static_call_trace_hook"};
	const struct static_call_key *keys[] = {
		st_key[0], st_key[1], st_key[2], st_key[3],
		&STATIC_CALL_KEY(static_call_trace_hook)};

	for (int i = 0; i < 5; i++) {
		const uint8_t *t = keys[i]->tramp;
		if (pc < (uintptr_t)t ||
		    pc > (uintptr_t)t + STATIC_CALL_TRAMP_SIZE)
			continue;
		put(o, " = ");
		put(o, names[i]);
		put(o, "+");
		put_num(o, pc - (uintptr_t)t, 10, 1);
		put(o, ", trampoline now:");
		for (int b = 0; b < STATIC_CALL_TRAMP_SIZE; b++) {
			put(o, " ");
			put_num(o, t[b], 16, 2);
		}
	}
}

static void crash_report(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uintptr_t pc = (uintptr_t)SC_TEST_PC(uc);
	struct out o = {.n = 0};

	put(&o, sig == SIGTRAP ? "FATAL: a SIGTRAP the library passed on"
			       : "FATAL: signal ");
	if (sig != SIGTRAP)
		put_num(&o, (unsigned long)sig, 10, 1);
	put(&o, " (si_code ");
	put_num(&o, (unsigned long)(unsigned int)si->si_code, 10, 1);
	put(&o, ") in thread ");
	put_num(&o, (unsigned long)syscall(SYS_gettid), 10, 1);
	put(&o, ": pc=0x");
	put_num(&o, pc, 16, 1);
	put_tramp(&o, pc);
	put(&o, "; sp=0x");
	put_num(&o, (unsigned long)SC_TEST_SP(uc), 16, 1);
	put(&o, " addr=0x");
	put_num(&o, (unsigned long)(uintptr_t)si->si_addr, 16, 1);
	put(&o, "\n");
	if (write(2, o.buf, o.n) < 0)
		o.n = 0;
	signal(sig, SIG_DFL);
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

void st_crash_report(bool trap)
{
	static const int sigs[] = {SIGSEGV, SIGILL, SIGBUS, SIGFPE, SIGTRAP};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = crash_report;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigs[i] != SIGTRAP || trap)
			sigaction(sigs[i], &sa, NULL);
}
