/* SPDX-License-Identifier: MIT */
/*
 * A tracing hook that costs nothing until enabled: the hot loop calls
 * static_call_cond(trace_event)() on a NULL static call (a `call` to a bare
 * `ret`), and the expensive preparation of the event is behind a static key
 * (a 5-byte nop while tracing is off).  Tracing is switched on and off at
 * run time, for the hook and the key together, in one batch.
 */
#include <stdio.h>

#include <staticcall.h>

struct event {
	int id;
	long value;
};

static unsigned long seen;
static void print_event(const struct event *e)
{
	if (seen++ < 3)
		printf("  event %d: %ld\n", e->id, e->value);
}

DEFINE_STATIC_CALL_NULL(trace_event, print_event);
DEFINE_STATIC_KEY_FALSE(tracing);

static long work(long i)
{
	long v = i * i;

	if (static_branch_unlikely(&tracing)) {
		struct event e = {(int)i, v}; /* only built when tracing */
		static_call_cond(trace_event)(&e);
	}
	return v;
}

static int set_tracing(int on)
{
	struct static_call_batch_entry ents[2];
	struct static_call_batch b;

	static_call_batch_init(&b, ents, 2);
	static_call_batch_add(&b, trace_event, on ? print_event : NULL);
	if (on)
		static_branch_batch_enable(&b, &tracing);
	else
		static_branch_batch_disable(&b, &tracing);
	return static_call_batch_commit(&b);
}

int main(void)
{
	long sum = 0;

	for (long i = 0; i < 1000; i++)
		sum += work(i);
	printf("tracing off: %lu events\n", seen);
	if (set_tracing(1))
		return 1;
	for (long i = 0; i < 1000; i++)
		sum += work(i);
	printf("tracing on: %lu events\n", seen);
	if (set_tracing(0))
		return 1;
	for (long i = 0; i < 1000; i++)
		sum += work(i);
	printf("tracing off again: %lu events (sum %ld)\n", seen, sum);
	return seen == 1000 ? 0 : 1;
}
