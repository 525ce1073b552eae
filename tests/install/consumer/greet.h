/* SPDX-License-Identifier: MIT */
/* A library built on libstaticcall (tests/install): its users link it, not
 * libstaticcall, which it needs at run time. */
int greet(int x);	 /* x + 1, then x + 2 after greet_upgrade() */
int greet_upgrade(void); /* static_call_update(): 0 or a negative errno */
