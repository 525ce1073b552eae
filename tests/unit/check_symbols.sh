#!/bin/sh
# SPDX-License-Identifier: MIT
# The library calls nothing that is not async-signal-safe: no stdio
# formatting, no strerror(), no allocation (updates are documented
# async-signal-safe, and they log).  Every object of the library is
# checked but unset.c's, the report of a call to a static call that was
# never given a target, which writes its message and aborts.
# Usage: check_symbols.sh <object files...>  (a ;-list is accepted too)
set -eu
deny='strerror strerror_r __xpg_strerror_r strerror_l vsnprintf snprintf
__snprintf_chk __vsnprintf_chk sprintf __sprintf_chk vsprintf printf
__printf_chk fprintf __fprintf_chk vfprintf dprintf fputs puts fwrite
malloc calloc realloc free'
NM=${NM:-nm}
checked=0
bad=0
for arg in "$@"; do
	old_ifs=$IFS
	IFS=';'
	for obj in $arg; do
		IFS=$old_ifs
		case "$(basename "$obj")" in
		unset.c.o) continue ;;
		esac
		checked=$((checked + 1))
		undef=$($NM -u "$obj" | awk '{print $NF}')
		for s in $deny; do
			if echo "$undef" | grep -qx "$s"; then
				echo "$obj calls $s (not async-signal-safe)"
				bad=1
			fi
		done
	done
	IFS=$old_ifs
done
if [ "$checked" -lt 10 ]; then
	echo "expected the library's objects, found $checked"
	exit 1
fi
[ $bad -eq 0 ] && echo "$checked objects: no stdio, strerror or allocation"
exit $bad
