/* SPDX-License-Identifier: MIT */
/*
 * One sort for every table the library orders: batches of requests and
 * pokes, jump tables, inline call sites.  No malloc (an update may run in
 * a signal handler; glibc's qsort() may allocate), and fast for the large
 * tables: enabling a key with 100,000 sites sorts 100,000 pokes of ~100
 * bytes, which a heap sort of the elements themselves takes a fifth of a
 * second to do.
 *
 * Large tables: the elements' keys (and their indices) go into an mmap'd
 * array of 16-byte records, sorted by a stable LSD radix sort, 16 bits a
 * pass, least significant key first; then the elements are permuted in
 * place by following cycles: n swaps.  Small tables, or when no memory can
 * be had: an in-place heap sort with @less.
 */
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define SC_RADIX_MIN 64

static void swap_words(void *a, void *b, size_t size)
{
	unsigned char *x = a, *y = b;
	unsigned char t[64];

	while (size) {
		size_t k = size < sizeof(t) ? size : sizeof(t);
		memcpy(t, x, k);
		memcpy(x, y, k);
		memcpy(y, t, k);
		x += k;
		y += k;
		size -= k;
	}
}

static void sift_down(unsigned char *v, size_t root, size_t n,
		      const struct sc_sort_ops *ops)
{
	for (;;) {
		size_t c = 2 * root + 1;
		if (c >= n)
			return;
		if (c + 1 < n &&
		    ops->less(v + c * ops->size, v + (c + 1) * ops->size))
			c++;
		if (!ops->less(v + root * ops->size, v + c * ops->size))
			return;
		ops->swap(v + root * ops->size, v + c * ops->size, ops->size);
		root = c;
	}
}

static void heap_sort(unsigned char *v, size_t n, const struct sc_sort_ops *o)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(v, i, n, o);
	for (size_t end = n; end-- > 1;) {
		o->swap(v, v + end * o->size, o->size);
		sift_down(v, 0, end, o);
	}
}

struct rec {
	uintptr_t k;
	size_t i;
};

/* Stable sort of @r by k, @bits (8 or 16) a pass, into @tmp and back:
 * passes whose digit is the same everywhere are skipped (the high bits of
 * addresses).  Smaller tables take smaller digits, so that clearing and
 * summing the counts does not cost more than the table. */
static void radix(struct rec *r, struct rec *tmp, size_t n, unsigned *count,
		  unsigned bits)
{
	size_t buckets = (size_t)1 << bits, mask = buckets - 1;

	for (unsigned shift = 0; shift < 8 * sizeof(uintptr_t); shift += bits) {
		size_t pos = 0;
		memset(count, 0, buckets * sizeof(*count));
		for (size_t i = 0; i < n; i++)
			count[(r[i].k >> shift) & mask]++;
		if (count[(r[0].k >> shift) & mask] == n)
			continue;
		for (size_t d = 0; d < buckets; d++) {
			size_t c = count[d];
			count[d] = (unsigned)pos;
			pos += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[count[(r[i].k >> shift) & mask]++] = r[i];
		memcpy(r, tmp, n * sizeof(*r));
	}
}

static bool in_order(const unsigned char *v, size_t n,
		     const struct sc_sort_ops *o)
{
	for (size_t i = 1; i < n; i++)
		if (o->less(v + i * o->size, v + (i - 1) * o->size))
			return false;
	return true;
}

void sc_sort(void *base, size_t n, const struct sc_sort_ops *ops)
{
	struct sc_sort_ops o = *ops;
	unsigned char *v = base, *out;
	size_t bytes;
	struct rec *r, *tmp;
	unsigned *count;
	uint64_t *done;
	void *m;

	/* already in order (one key's sites, one request): nothing to do */
	if (n < 2 || in_order(v, n, &o))
		return;
	bytes = 2 * n * sizeof(struct rec) + 65536 * sizeof(unsigned) +
		(n + 63) / 64 * 8 + (o.swap ? 0 : n * o.size);
	m = n < SC_RADIX_MIN || !o.key
		    ? MAP_FAILED
		    : mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		if (!o.swap)
			o.swap = swap_words;
		heap_sort(v, n, &o);
		return;
	}
	r = m;
	tmp = r + n;
	count = (unsigned *)(tmp + n);
	done = (uint64_t *)(count + 65536);
	out = (unsigned char *)(done + (n + 63) / 64);
	for (size_t i = 0; i < n; i++)
		r[i].i = i;
	/* least significant key first; each pass is stable */
	for (int k = o.nkeys; k-- > 0;) {
		for (size_t i = 0; i < n; i++)
			r[i].k = o.key(v + r[i].i * o.size, k);
		radix(r, tmp, n, count, n < 65536 ? 8 : 16);
	}
	if (!o.swap) {
		/* plain memory: gather in order, copy back */
		for (size_t i = 0; i < n; i++)
			memcpy(out + i * o.size, v + r[i].i * o.size, o.size);
		memcpy(v, out, n * o.size);
		munmap(m, bytes);
		return;
	}
	/* position i receives the element now at r[i].i: follow each cycle,
	 * with the caller's swap (elements that must be re-based) */
	for (size_t i = 0; i < n; i++) {
		size_t cur = i, next = r[i].i;
		if ((done[i / 64] >> (i % 64)) & 1)
			continue;
		done[i / 64] |= 1ull << (i % 64);
		while (next != i) {
			o.swap(v + cur * o.size, v + next * o.size, o.size);
			done[next / 64] |= 1ull << (next % 64);
			cur = next;
			next = r[next].i;
		}
	}
	munmap(m, bytes);
}
