#!/usr/bin/env bash
# Install the library from a build tree into a scratch prefix, then build and
# run examples/hello.c against the installed copy: through pkg-config and
# through find_package(staticcall), shared and static.  Also what
# docs/converting.md says about a prefix outside the loader's search path:
# without a run path the program does not start ("libstaticcall.so.0:
# cannot open shared object file"), nor does a program that links a library
# built on libstaticcall whose own run path is missing; -Wl,-rpath with
# pkg-config's libdir, LD_LIBRARY_PATH, the static library, and CMake's
# CMAKE_INSTALL_RPATH_USE_LINK_PATH for installed programs each fix it.
# Usage: run.sh <build-dir> <source-dir> <c-compiler> [sanitizers]
# A cross build (tools/run-tests aarch64) sets SC_EMULATOR (the command
# that runs a built program, e.g. qemu-aarch64 -L <sysroot>) and
# SC_TOOLCHAIN (the CMake toolchain file, for the find_package consumer).
set -euo pipefail
build=$1 src=$2 cc=$3 san=${4:-}
flags=""
[ -n "$san" ] && flags="-fsanitize=$san"
emu=(${SC_EMULATOR:-})
toolchain=()
[ -n "${SC_TOOLCHAIN:-}" ] && toolchain=(-DCMAKE_TOOLCHAIN_FILE="$SC_TOOLCHAIN")
# run a built program (through the emulator, if any)
run() { "${emu[@]}" "$@"; }
# does the program load libstaticcall.so at run time?
needs_lib() { readelf -d "$1" | grep -q 'NEEDED.*libstaticcall'; }
work=$build/install-test
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(find "$work/prefix" -name libstaticcall.pc -printf '%h\n' | head -1)
libdir=${libdir%/pkgconfig}
expect=$'41\n42'

echo "pkg-config, shared, run path from pkg-config's libdir:"
export PKG_CONFIG_PATH=$libdir/pkgconfig
[ "$(pkg-config --variable=libdir libstaticcall)" -ef "$libdir" ]
"$cc" $flags -o "$work/hello_pc" "$src/examples/hello.c" \
	$(pkg-config --cflags --libs libstaticcall) \
	-Wl,-rpath,"$(pkg-config --variable=libdir libstaticcall)"
[ "$(run "$work/hello_pc")" = "$expect" ]

# Without a run path: the loader does not look in the prefix (unless it
# is a system directory, or the library is installed there too).
"$cc" $flags -o "$work/hello_norpath" "$src/examples/hello.c" \
	$(pkg-config --cflags --libs libstaticcall)
if ! ldconfig -p 2>/dev/null | grep -q 'libstaticcall\.so\.0 '; then
	echo "no run path: does not start:"
	if out=$(env -u LD_LIBRARY_PATH "${emu[@]}" "$work/hello_norpath" 2>&1); then
		echo "UNEXPECTED: it started: $out"
		exit 1
	fi
	grep -q 'libstaticcall.so.0: cannot open shared object file' <<<"$out"
fi
echo "no run path, LD_LIBRARY_PATH:"
[ "$(LD_LIBRARY_PATH=$libdir run "$work/hello_norpath")" = "$expect" ]

# A library built on libstaticcall, and a program that links only it:
# the program's run path finds libgreet, not libgreet's dependency (a
# DT_RUNPATH serves only its own object's dependencies).
greet=$src/tests/install/consumer
mkdir -p "$work/norpath" "$work/rpath"
"$cc" $flags -shared -fPIC -o "$work/norpath/libgreet.so" "$greet/greet.c" \
	$(pkg-config --cflags --libs libstaticcall)
"$cc" $flags -shared -fPIC -o "$work/rpath/libgreet.so" "$greet/greet.c" \
	$(pkg-config --cflags --libs libstaticcall) \
	-Wl,-rpath,"$(pkg-config --variable=libdir libstaticcall)"
# (linking against the library without one even needs -rpath-link to
# find its dependency)
"$cc" $flags -o "$work/norpath/greet_app" "$greet/greet_app.c" \
	-L"$work/norpath" -lgreet -Wl,-rpath,"$work/norpath" \
	-Wl,-rpath-link,"$libdir"
"$cc" $flags -o "$work/rpath/greet_app" "$greet/greet_app.c" \
	-L"$work/rpath" -lgreet -Wl,-rpath,"$work/rpath"
if ! ldconfig -p 2>/dev/null | grep -q 'libstaticcall\.so\.0 '; then
	echo "a library without its run path: its user does not start:"
	if out=$(env -u LD_LIBRARY_PATH "${emu[@]}" "$work/norpath/greet_app" 2>&1); then
		echo "UNEXPECTED: it started: $out"
		exit 1
	fi
	grep -q 'libstaticcall.so.0: cannot open shared object file' <<<"$out"
fi
echo "the library linked with -Wl,-rpath: its user starts:"
[ "$(env -u LD_LIBRARY_PATH "${emu[@]}" "$work/rpath/greet_app")" = "$expect" ]

echo "pkg-config, static:"
"$cc" $flags -o "$work/hello_pc_static" "$src/examples/hello.c" \
	$(pkg-config --cflags libstaticcall) "$libdir/libstaticcall.a" \
	$(pkg-config --static --libs-only-other libstaticcall)
[ "$(run "$work/hello_pc_static")" = "$expect" ]
! needs_lib "$work/hello_pc_static"

echo "find_package(staticcall):"
cmake -S "$src/tests/install/consumer" -B "$work/consumer" \
	"${toolchain[@]}" -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$work/prefix" \
	-DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
	-DHELLO_SRC="$src/examples/hello.c" >/dev/null
cmake --build "$work/consumer" >/dev/null
[ "$(run "$work/consumer/hello_shared")" = "$expect" ]
[ "$(run "$work/consumer/hello_static")" = "$expect" ]
[ "$(run "$work/consumer/greet_app")" = "$expect" ]
echo "find_package(staticcall), installed with CMAKE_INSTALL_RPATH_USE_LINK_PATH:"
cmake --install "$work/consumer" --prefix "$work/app-prefix" >/dev/null
[ "$(env -u LD_LIBRARY_PATH "${emu[@]}" "$work/app-prefix/bin/hello_shared")" = "$expect" ]
[ "$(env -u LD_LIBRARY_PATH "${emu[@]}" "$work/app-prefix/bin/greet_app")" = "$expect" ]
if [ -e "$build/tools/staticcall-sites" ]; then
	echo "staticcall-sites, installed to bin/:"
	run "$work/prefix/bin/staticcall-sites" -h | grep -q '^usage: '
fi
echo "install test: all consumers print 41, 42; without a run path they do not start"
