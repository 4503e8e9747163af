# Included by the top-level CMakeLists.txt when DUROXIDE_FUZZ is ON, before any target:
# every library (SQLite included) gets libFuzzer's coverage instrumentation and ASan/UBSan,
# so a fuzzer sees the branches of the code it drives and any memory error or undefined
# behaviour aborts the run. UBSan does not recover: a report is a crash.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "DUROXIDE_FUZZ needs clang (libFuzzer): configure with -DCMAKE_C_COMPILER=clang "
                      "-DCMAKE_CXX_COMPILER=clang++ (scripts/fuzz.sh does)")
endif()
# All of UBSan but `function` (calls through a function pointer of the wrong type): with
# coverage instrumentation clang 14 cannot emit its prologue data for coroutines ("Cannot
# represent a difference across sections" on core/engine/replay_engine.cpp).
set(DUROXIDE_FUZZ_SANITIZERS address,undefined)
add_compile_options(-fsanitize=fuzzer-no-link,${DUROXIDE_FUZZ_SANITIZERS} -fno-sanitize=function
                    -fno-sanitize-recover=all -fno-omit-frame-pointer)
add_link_options(-fsanitize=${DUROXIDE_FUZZ_SANITIZERS} -fno-sanitize=function -fno-sanitize-recover=all)
