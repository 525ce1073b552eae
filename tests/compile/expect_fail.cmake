# cmake -DCC=<compiler> -DSRC=<file> -DFLAGS=<flags separated by |> \
#       -P expect_fail.cmake
#
# Compiles SRC, which must FAIL.  Prints the compiler's output and then
# either "compile failed as expected (exit N)" or "UNEXPECTED SUCCESS"; the
# test matches the first (and the diagnostic) and fails on the second, so
# both a non-zero exit and the message are required.
string(REPLACE "|" ";" FLAGS "${FLAGS}")
execute_process(
  COMMAND ${CC} ${FLAGS} ${SRC}
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)
message("${out}")
if(rc EQUAL 0)
  message("UNEXPECTED SUCCESS: ${SRC} compiled with ${FLAGS}")
  message(FATAL_ERROR "the compiler accepted a target of the wrong type")
endif()
message("compile failed as expected (exit ${rc})")
