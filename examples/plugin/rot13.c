/* SPDX-License-Identifier: MIT */
/* A plug-in: registers its encoder with the host when loaded. */
#include "codec.h"

static size_t rot13(char *out, const char *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if ((c >= 'a' && c <= 'z'))
			c = (char)('a' + (c - 'a' + 13) % 26);
		else if (c >= 'A' && c <= 'Z')
			c = (char)('A' + (c - 'A' + 13) % 26);
		out[i] = c;
	}
	return len;
}

__attribute__((constructor)) static void load(void)
{
	host_register(rot13, "rot13");
}

__attribute__((destructor)) static void unload(void) { host_unregister(rot13); }
