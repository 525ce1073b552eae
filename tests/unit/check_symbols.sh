#!/bin/sh
# SPDX-License-Identifier: MIT
# The message path and the signal handlers' files call nothing that is not
# async-signal-safe: no stdio formatting, no strerror(), no allocation
# (updates are documented async-signal-safe, and they log).
# Usage: check_symbols.sh <object files...>  (a ;-list is accepted too)
# Checked: the objects of src/log.c and src/signals.c among them.
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
		log.c.o | signals.c.o) ;;
		*) continue ;;
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
if [ "$checked" -ne 2 ]; then
	echo "expected the objects of log.c and signals.c, found $checked"
	exit 1
fi
[ $bad -eq 0 ] && echo "log.c, signals.c: no stdio, strerror or allocation"
exit $bad
