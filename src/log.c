/* SPDX-License-Identifier: MIT */
/*
 * Messages go to one callback (libbpf style) rather than straight to stderr.
 *
 * A message may come from an update made in a signal handler, and updates
 * are documented async-signal-safe, so nothing here allocates, locks or
 * calls stdio: the formatter is our own (vformat(), a subset of
 * vsnprintf() on a caller's buffer), errno texts come from our own table
 * (sc_strerror()), the default printer makes one write(2), and a message
 * that nobody would see (below the default printer's level, or no printer
 * at all) is not formatted.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static void default_print(enum static_call_print_level level, const char *msg);

static _Atomic(static_call_print_fn_t) print_fn = default_print;
static _Atomic int env_level = -1; /* from STATICCALL_LOG, read once */
_Atomic unsigned long sc_log_formatted;

static int level_of(const char *e)
{
	if (!strcmp(e, "warn") || !strcmp(e, "0"))
		return STATIC_CALL_WARN;
	if (!strcmp(e, "info") || !strcmp(e, "1"))
		return STATIC_CALL_INFO;
	if (!strcmp(e, "debug") || !strcmp(e, "2"))
		return STATIC_CALL_DEBUG;
	if (!strcmp(e, "off") || !strcmp(e, "none"))
		return -2;
	return -3; /* unknown */
}

int sc_log_set_level(const char *name)
{
	int l = level_of(name);

	if (l == -3)
		return -EINVAL;
	atomic_store_explicit(&env_level, l, memory_order_relaxed);
	return 0;
}

static int default_level(void)
{
	int l = atomic_load_explicit(&env_level, memory_order_relaxed);
	const char *e;

	if (l != -1)
		return l;
	e = sc_getenv("STATICCALL_LOG");
	l = e ? level_of(e) : STATIC_CALL_WARN;
	if (l == -3)
		l = STATIC_CALL_WARN;
	atomic_store_explicit(&env_level, l, memory_order_relaxed);
	return l;
}

/* ------------------------------------------------------------------------
 * The formatter
 * ------------------------------------------------------------------------ */
struct out {
	char *buf;
	size_t size; /* of buf; 0: count only */
	size_t n;    /* characters produced so far, stored or not */
};

static void put_c(struct out *o, char c)
{
	if (o->n + 1 < o->size)
		o->buf[o->n] = c;
	o->n++;
}

static void put_rep(struct out *o, char c, long count)
{
	for (; count > 0; count--)
		put_c(o, c);
}

static void put_s(struct out *o, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		put_c(o, s[i]);
}

/* One conversion's flags, width and precision. */
struct spec {
	bool left, zero, plus, space, alt;
	int width;
	int prec; /* -1: none */
};

/* @body (@len chars) after @prefix (sign, "0x"), padded to the width. */
static void put_field(struct out *o, const struct spec *sp, const char *prefix,
		      const char *body, size_t len, size_t zeros)
{
	size_t plen = strlen(prefix);
	long pad = (long)sp->width - (long)(plen + zeros + len);

	if (!sp->left && !sp->zero)
		put_rep(o, ' ', pad);
	put_s(o, prefix, plen);
	if (!sp->left && sp->zero)
		put_rep(o, '0', pad);
	put_rep(o, '0', (long)zeros);
	put_s(o, body, len);
	if (sp->left)
		put_rep(o, ' ', pad);
}

static void put_num(struct out *o, const struct spec *sp, unsigned long long v,
		    bool neg, unsigned int base, bool upper, const char *prefix)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24]; /* 2^64 in octal: 22 digits */
	size_t len = 0, zeros = 0;
	struct spec s = *sp;
	char sign[4] = "";

	do {
		tmp[sizeof(tmp) - 1 - len++] = digits[v % base];
		v /= base;
	} while (v);
	if (s.prec >= 0) {
		s.zero = false; /* as printf: a precision overrides '0' */
		if (s.prec == 0 && len == 1 && tmp[sizeof(tmp) - 1] == '0')
			len = 0; /* "%.0d" of 0 prints no digit */
		if ((size_t)s.prec > len)
			zeros = (size_t)s.prec - len;
	}
	if (neg)
		strcpy(sign, "-");
	else if (s.plus)
		strcpy(sign, "+");
	else if (s.space)
		strcpy(sign, " ");
	if (prefix[0]) /* "0x" or "0": only one of sign and prefix applies */
		strcpy(sign, prefix);
	put_field(o, &s, sign, tmp + sizeof(tmp) - len, len, zeros);
}

static __attribute__((format(printf, 3, 0))) int
vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = {buf, size, 0};
	const char *f = fmt;

	while (*f) {
		struct spec sp = {.prec = -1};
		int lng = 0; /* -2 hh, -1 h, 0 int, 1 long, 2 long long */
		unsigned long long u;
		long long d;
		const char *start = f;

		if (*f != '%') {
			put_c(&o, *f++);
			continue;
		}
		f++;
		for (;; f++) {
			if (*f == '-')
				sp.left = true;
			else if (*f == '0')
				sp.zero = true;
			else if (*f == '+')
				sp.plus = true;
			else if (*f == ' ')
				sp.space = true;
			else if (*f == '#')
				sp.alt = true;
			else
				break;
		}
		if (*f == '*') {
			sp.width = va_arg(ap, int);
			if (sp.width < 0) {
				sp.left = true;
				sp.width = sp.width == INT_MIN ? 0 : -sp.width;
			}
			f++;
		} else {
			while (*f >= '0' && *f <= '9') {
				if (sp.width < 100000)
					sp.width = sp.width * 10 + (*f - '0');
				f++;
			}
		}
		if (*f == '.') {
			f++;
			sp.prec = 0;
			if (*f == '*') {
				sp.prec = va_arg(ap, int);
				if (sp.prec < 0)
					sp.prec = -1; /* as if omitted */
				f++;
			}
			while (*f >= '0' && *f <= '9') {
				if (sp.prec < 100000)
					sp.prec = sp.prec * 10 + (*f - '0');
				f++;
			}
		}
		if (sp.left)
			sp.zero = false;
		for (;; f++) {
			if (*f == 'h')
				lng = lng > -2 ? lng - 1 : lng;
			else if (*f == 'l')
				lng = lng < 2 ? lng + 1 : lng;
			else if (*f == 'z' || *f == 't' || *f == 'j')
				lng = 1; /* size_t, ptrdiff_t, intmax_t: long */
			else
				break;
		}
		switch (*f) {
		case 'd':
		case 'i':
			if (lng >= 2)
				d = va_arg(ap, long long);
			else if (lng == 1)
				d = va_arg(ap, long);
			else
				d = va_arg(ap, int);
			if (lng == -1)
				d = (short)d;
			else if (lng == -2)
				d = (signed char)d;
			u = d < 0 ? 0ULL - (unsigned long long)d
				  : (unsigned long long)d;
			put_num(&o, &sp, u, d < 0, 10, false, "");
			break;
		case 'u':
		case 'x':
		case 'X':
		case 'o':
			if (lng >= 2)
				u = va_arg(ap, unsigned long long);
			else if (lng == 1)
				u = va_arg(ap, unsigned long);
			else
				u = va_arg(ap, unsigned int);
			if (lng == -1)
				u = (unsigned short)u;
			else if (lng == -2)
				u = (unsigned char)u;
			sp.plus = sp.space = false;
			if (*f == 'u')
				put_num(&o, &sp, u, false, 10, false, "");
			else if (*f == 'o')
				put_num(&o, &sp, u, false, 8, false,
					sp.alt && u ? "0" : "");
			else
				put_num(&o, &sp, u, false, 16, *f == 'X',
					!sp.alt || !u ? ""
					: *f == 'X'   ? "0X"
						      : "0x");
			break;
		case 'p': {
			void *p = va_arg(ap, void *);
			sp.plus = sp.space = false;
			if (!p) {
				sp.zero = false;
				put_field(&o, &sp, "", "(nil)", 5, 0);
			} else {
				put_num(&o, &sp, (uintptr_t)p, false, 16, false,
					"0x");
			}
			break;
		}
		case 'c': {
			char c = (char)va_arg(ap, int);
			sp.zero = false;
			put_field(&o, &sp, "", &c, 1, 0);
			break;
		}
		case 's': {
			const char *s = va_arg(ap, const char *);
			size_t len = 0;
			if (!s)
				s = sp.prec < 0 || sp.prec >= 6 ? "(null)" : "";
			/* never read past the precision: s need not end */
			while ((sp.prec < 0 || len < (size_t)sp.prec) && s[len])
				len++;
			sp.zero = false;
			put_field(&o, &sp, "", s, len, 0);
			break;
		}
		case '%':
			put_c(&o, '%');
			break;
		default:
			/* not supported (floating point, %n) or malformed:
			 * copied as it is; its argument, if any, is not read,
			 * so the conversions after it would be off: the
			 * format attribute of sc_log() keeps such strings out
			 * of the library. */
			if (!*f) {
				put_s(&o, start, (size_t)(f - start));
				continue;
			}
			put_s(&o, start, (size_t)(f + 1 - start));
			break;
		}
		f++;
	}
	if (size)
		buf[o.n < size ? o.n : size - 1] = 0;
	return o.n > INT_MAX ? INT_MAX : (int)o.n;
}

int sc_format(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vformat(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* ------------------------------------------------------------------------
 * errno texts
 * ------------------------------------------------------------------------ */
#define E(name, text) [name] = #name " (" text ")"
static const char *const errno_text[] = {
	[0] = "0 (no error)",
	E(EPERM, "operation not permitted"),
	E(ENOENT, "no such file or directory"),
	E(ESRCH, "no such process"),
	E(EINTR, "interrupted system call"),
	E(EIO, "input/output error"),
	E(ENXIO, "no such device or address"),
	E(E2BIG, "argument list too long"),
	E(ENOEXEC, "exec format error"),
	E(EBADF, "bad file descriptor"),
	E(ECHILD, "no child processes"),
	E(EAGAIN, "resource temporarily unavailable"),
	E(ENOMEM, "cannot allocate memory"),
	E(EACCES, "permission denied"),
	E(EFAULT, "bad address"),
	E(EBUSY, "device or resource busy"),
	E(EEXIST, "file exists"),
	E(EXDEV, "invalid cross-device link"),
	E(ENODEV, "no such device"),
	E(ENOTDIR, "not a directory"),
	E(EISDIR, "is a directory"),
	E(EINVAL, "invalid argument"),
	E(ENFILE, "too many open files in system"),
	E(EMFILE, "too many open files"),
	E(ETXTBSY, "text file busy"),
	E(EFBIG, "file too large"),
	E(ENOSPC, "no space left on device"),
	E(ESPIPE, "illegal seek"),
	E(EROFS, "read-only file system"),
	E(EMLINK, "too many links"),
	E(EPIPE, "broken pipe"),
	E(ERANGE, "numerical result out of range"),
	E(EDEADLK, "resource deadlock avoided"),
	E(ENAMETOOLONG, "file name too long"),
	E(ENOLCK, "no locks available"),
	E(ENOSYS, "function not implemented"),
	E(ELOOP, "too many levels of symbolic links"),
	E(ENODATA, "no data available"),
	E(ETIME, "timer expired"),
	E(EOVERFLOW, "value too large for defined data type"),
	E(EBADFD, "file descriptor in bad state"),
	E(ELIBBAD, "accessing a corrupted shared library"),
	E(EILSEQ, "illegal byte sequence"),
	E(EOPNOTSUPP, "operation not supported"),
	E(ETIMEDOUT, "connection timed out"),
	E(ESTALE, "stale file handle"),
	E(ECANCELED, "operation canceled"),
	E(EOWNERDEAD, "owner died"),
	E(ENOTRECOVERABLE, "state not recoverable"),
};
#undef E

/* Texts for numbers not in the table: a few per thread, so that a signal
 * handler that interrupts a message being built does not overwrite it. */
#define SC_ERRBUF_N 4
static __thread char errbuf[SC_ERRBUF_N][24]
	__attribute__((tls_model("initial-exec")));
static __thread unsigned int errbuf_next
	__attribute__((tls_model("initial-exec")));

const char *sc_strerror(int errnum)
{
	unsigned int e =
		errnum < 0 ? 0U - (unsigned int)errnum : (unsigned int)errnum;
	char *b;

	if (e < SC_ARRAY_SIZE(errno_text) && errno_text[e])
		return errno_text[e];
	b = errbuf[errbuf_next++ % SC_ERRBUF_N];
	sc_format(b, sizeof(errbuf[0]), "errno %u", e);
	return b;
}

/* ------------------------------------------------------------------------
 * Printing
 * ------------------------------------------------------------------------ */
static void default_print(enum static_call_print_level level, const char *msg)
{
	static const char tag[] = "libstaticcall: ";
	char line[320];
	size_t n = sizeof(tag) - 1, len = strnlen(msg, sizeof(line) - n - 1);

	if ((int)level > default_level())
		return;
	memcpy(line, tag, n);
	memcpy(line + n, msg, len);
	n += len;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return; /* nowhere else to report it */
}

static_call_print_fn_t static_call_set_print(static_call_print_fn_t fn)
{
	return atomic_exchange(&print_fn, fn);
}

void sc_log(enum static_call_print_level level, const char *fmt, ...)
{
	static_call_print_fn_t fn = atomic_load(&print_fn);
	char msg[256];
	va_list ap;
	int n;

	/* nobody would see it: do not even format it */
	if (!fn || (fn == default_print && (int)level > default_level()))
		return;
	va_start(ap, fmt);
	n = vformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(msg)) /* cut: say so */
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	atomic_fetch_add_explicit(&sc_log_formatted, 1, memory_order_relaxed);
	fn(level, msg);
}

void sc_hexdump(char *out, const uint8_t *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[3 * i] = hex[b[i] >> 4];
		out[3 * i + 1] = hex[b[i] & 15];
		out[3 * i + 2] = i + 1 < n ? ' ' : 0;
	}
}
