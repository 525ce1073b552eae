/* SPDX-License-Identifier: MIT */
/*
 * A host with a built-in encoder behind a static call; a plug-in loaded
 * with dlopen() registers its own implementation, which every call site
 * reaches directly.  Before the plug-in's code goes away, the host
 * retargets the call back to its built-in and waits with
 * static_call_synchronize(); this host knows that no thread is inside the
 * plug-in's code (it is single-threaded), which the library cannot know.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"

static size_t identity(char *out, const char *in, size_t len)
{
	memcpy(out, in, len);
	return len;
}

DEFINE_STATIC_CALL(encode, identity);

int host_register(encode_fn *fn, const char *name)
{
	int err = static_call_update(encode, fn);
	printf("  plug-in %s registered: %s\n", name, err ? "failed" : "ok");
	return err;
}

void host_unregister(encode_fn *fn)
{
	if (static_call_query(encode) == fn) {
		static_call_update(encode, identity);
		static_call_synchronize();
	}
}

static void show(const char *when)
{
	char out[16] = {0};
	static_call(encode)(out, "Hello", 5);
	printf("%s: encode(\"Hello\") = \"%s\"\n", when, out);
}

int main(int argc, char **argv)
{
	void *h;

	if (argc < 2) {
		fprintf(stderr, "usage: %s plugin.so\n", argv[0]);
		return 2;
	}
	show("built-in");
	h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	show("with the plug-in");
	dlclose(h);
	show("after dlclose");
	return static_call_query(encode) == identity ? 0 : 1;
}
