/* SPDX-License-Identifier: MIT */
/* The host's static call that a plug-in may take over. */
#ifndef PLUGIN_CODEC_H
#define PLUGIN_CODEC_H
#include <stddef.h>
#include <staticcall.h>

typedef size_t encode_fn(char *out, const char *in, size_t len);
DECLARE_STATIC_CALL(encode, encode_fn);

/* called by a plug-in when it is loaded / about to be unloaded */
int host_register(encode_fn *fn, const char *name);
void host_unregister(encode_fn *fn);
#endif
