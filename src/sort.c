/* SPDX-License-Identifier: MIT */
/*
 * One in-place heap sort for every table the library orders: batches of
 * pokes, jump tables, inline call sites.  No allocation and O(n log n) worst
 * case, because sorting happens inside updates (which may run in a signal
 * handler) on tables that may hold tens of thousands of entries.  qsort()
 * is neither: glibc's may call malloc.
 */
#include <string.h>

#include "internal.h"

static void swap_bytes(void *a, void *b, size_t size)
{
	unsigned char *x = a, *y = b;

	for (size_t i = 0; i < size; i++) {
		unsigned char t = x[i];
		x[i] = y[i];
		y[i] = t;
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

void sc_sort(void *base, size_t n, const struct sc_sort_ops *ops)
{
	struct sc_sort_ops o = *ops;
	unsigned char *v = base;

	if (!o.swap)
		o.swap = swap_bytes;
	for (size_t i = n / 2; i-- > 0;)
		sift_down(v, i, n, &o);
	for (size_t end = n; end-- > 1;) {
		o.swap(v, v + end * o.size, o.size);
		sift_down(v, 0, end, &o);
	}
}
