/* SPDX-License-Identifier: MIT */
/*
 * An ifunc replacement that can change its mind: a CRC32-C implementation
 * chosen by CPU features at start-up (the crc32 instructions of SSE4.2 on
 * x86-64, of the CRC32 extension on aarch64, or a table-driven one),
 * through a static call.  Unlike an ifunc, the choice
 * can be revisited later (here: a "paranoid" mode that switches to the
 * portable code at run time, while other threads may be hashing).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <staticcall.h>

typedef uint32_t crc_fn(uint32_t crc, const void *buf, size_t len);

static uint32_t table[256];

static uint32_t crc32c_table(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__)
#define HW_NAME "sse4.2"
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	for (; len >= 8; len -= 8, p += 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

static int hw_supported(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
}
#elif defined(__aarch64__)
#include <sys/auxv.h>
#define HW_NAME "crc32"
__attribute__((target("+crc"))) static uint32_t
crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;

	for (; len >= 8; len -= 8, p += 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_aarch64_crc32cx(c, v);
	}
	while (len--)
		c = __builtin_aarch64_crc32cb(c, *p++);
	return ~c;
}

static int hw_supported(void)
{
	return (getauxval(AT_HWCAP) & (1ul << 7)) != 0; /* HWCAP_CRC32 */
}
#endif

DEFINE_STATIC_CALL(crc32c, crc32c_table);

static void init_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
		table[i] = c;
	}
}

int main(void)
{
	static const char msg[] = "123456789"; /* CRC-32C check value */
	const uint32_t check = 0xe3069283;
	uint32_t a, b;

	init_table();
	if (hw_supported() && static_call_update(crc32c, crc32c_hw) != 0)
		return 1;
	a = static_call(crc32c)(0, msg, 9);
	printf("start-up choice: %s, crc32c(\"%s\") = %08x\n",
	       static_call_query(crc32c) == crc32c_hw ? HW_NAME : "table", msg,
	       a);

	/* later: switch to the portable code, live */
	if (static_call_update(crc32c, crc32c_table) != 0)
		return 1;
	b = static_call(crc32c)(0, msg, 9);
	printf("after switching to the table: %08x\n", b);
	return a == check && b == check ? 0 : 1;
}
