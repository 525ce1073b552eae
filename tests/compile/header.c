/* SPDX-License-Identifier: MIT */
/* Every public header compiles alone, as C11 and as C++11, with
 * -Wall -Wextra -Wpedantic -Werror (tests/compile/CMakeLists.txt). */
#include <staticcall.h>

int main(void) { return 0; }
