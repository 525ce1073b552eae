#!/usr/bin/env bash
# Install the library from a build tree into a scratch prefix, then build and
# run examples/hello.c against the installed copy: through pkg-config and
# through find_package(staticcall), shared and static.
# Usage: run.sh <build-dir> <source-dir> <c-compiler> [sanitizers]
set -euo pipefail
build=$1 src=$2 cc=$3 san=${4:-}
flags=""
[ -n "$san" ] && flags="-fsanitize=$san"
work=$build/install-test
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(find "$work/prefix" -name libstaticcall.pc -printf '%h\n' | head -1)
libdir=${libdir%/pkgconfig}
expect=$'41\n42'

echo "pkg-config, shared:"
export PKG_CONFIG_PATH=$libdir/pkgconfig
"$cc" $flags -o "$work/hello_pc" "$src/examples/hello.c" \
	$(pkg-config --cflags --libs libstaticcall) -Wl,-rpath,"$libdir"
[ "$("$work/hello_pc")" = "$expect" ]

echo "pkg-config, static:"
"$cc" $flags -o "$work/hello_pc_static" "$src/examples/hello.c" \
	$(pkg-config --cflags libstaticcall) "$libdir/libstaticcall.a" \
	$(pkg-config --static --libs-only-other libstaticcall)
[ "$("$work/hello_pc_static")" = "$expect" ]
! ldd "$work/hello_pc_static" | grep -q libstaticcall

echo "find_package(staticcall):"
cmake -S "$src/tests/install/consumer" -B "$work/consumer" \
	-DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$work/prefix" \
	-DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
	-DHELLO_SRC="$src/examples/hello.c" >/dev/null
cmake --build "$work/consumer" >/dev/null
[ "$("$work/consumer/hello_shared")" = "$expect" ]
[ "$("$work/consumer/hello_static")" = "$expect" ]
if [ -e "$build/tools/staticcall-sites" ]; then
	echo "staticcall-sites, installed to bin/:"
	"$work/prefix/bin/staticcall-sites" -h | grep -q '^usage: '
fi
echo "install test: all consumers print 41, 42"
