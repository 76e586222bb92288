# Sanitizer and fuzzing builds (docs/fuzzing.md), each in a build tree of its own.
#   HS_SANITIZE=ON  every target with AddressSanitizer + UndefinedBehaviorSanitizer; a report
#                   stops the program (-fno-sanitize-recover), so a test with a finding fails.
#   HS_FUZZ=ON      the libFuzzer harnesses of fuzz/ and their smoke runs in CTest; needs clang
#                   (-DCMAKE_C_COMPILER=clang) and implies HS_SANITIZE. Everything is then
#                   compiled with coverage instrumentation for the fuzzer.
# Known third-party leaks go into cmake/sanitizers/lsan.supp, which the tests of such a tree
# are run with.
option(HS_SANITIZE "Build everything with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(HS_FUZZ "Build the libFuzzer harnesses in fuzz/ (needs clang; implies HS_SANITIZE)" OFF)

set(HS_FUZZ_ACTIVE OFF)
if(HS_FUZZ)
  if(CMAKE_C_COMPILER_ID MATCHES "Clang")
    set(HS_FUZZ_ACTIVE ON)
  else()
    message(WARNING "HS_FUZZ: the harnesses need clang (configure with -DCMAKE_C_COMPILER=clang); "
                    "${CMAKE_C_COMPILER_ID} cannot build them, their tests are skipped")
  endif()
endif()

set(HS_SANITIZE_ACTIVE OFF)
# What a program outside this build (tests/consumer) needs to link the instrumented libraries.
set(HS_SANITIZER_FLAGS "")
if(HS_SANITIZE OR HS_FUZZ_ACTIVE)
  set(HS_SANITIZE_ACTIVE ON)
  set(HS_SANITIZER_FLAGS -fsanitize=address,undefined)
  # Applies to every target defined after this point: every layer, the command, the tests.
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  if(CMAKE_C_COMPILER_ID MATCHES "Clang")
    # The instrumentation keeps clang from vectorizing some `omp simd` loops, which it
    # reports as a warning (an error with HS_WERROR).
    add_compile_options(-Wno-pass-failed)
  endif()
  message(STATUS "Sanitizers: address, undefined (suppressions in cmake/sanitizers/)")
endif()
if(HS_FUZZ_ACTIVE)
  # Coverage feedback for libFuzzer from every object, the library's parsers above all; the
  # sanitizer runtime supplies the hooks to programs that are not fuzzers (tests, command).
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# The environment the tests of a sanitizer tree run with (child processes such as the
# command run by the tests inherit it): leak detection on, the suppression file, stack
# traces with UBSan reports.
set(HS_ASAN_OPTIONS "detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1")
set(HS_SANITIZER_ENV
  "ASAN_OPTIONS=${HS_ASAN_OPTIONS}"
  "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/cmake/sanitizers/lsan.supp:print_suppressions=0"
  "UBSAN_OPTIONS=print_stacktrace=1")

# hs_sanitizer_env(TEST...): adds that environment to tests (nothing without sanitizers).
function(hs_sanitizer_env)
  if(HS_SANITIZE_ACTIVE)
    set_property(TEST ${ARGN} APPEND PROPERTY ENVIRONMENT ${HS_SANITIZER_ENV})
  endif()
endfunction()

# hs_sanitize_tests(): the environment for every test of the calling directory (CMake 3.25
# sets test properties only there; tests/CMakeLists.txt calls it last). The python tests
# (python, python_install) load the instrumented shared library into /usr/bin/python3, which
# is not instrumented: the sanitizer runtime is preloaded for them, and leak detection is off
# for those processes only, because the interpreter and torch keep allocations until exit by
# design (docs/fuzzing.md); memory errors are still detected there, and the library's leaks
# are checked by the C tests.
function(hs_sanitize_tests)
  if(NOT HS_SANITIZE_ACTIVE)
    return()
  endif()
  set(python_tests python python_install)
  get_property(tests DIRECTORY PROPERTY TESTS)
  list(REMOVE_ITEM tests ${python_tests} dist)
  if(tests)
    hs_sanitizer_env(${tests})
  endif()
  get_property(all DIRECTORY PROPERTY TESTS)
  # dist runs the command under mpiexec: Open MPI's own start-up (its dlopen'ed components,
  # ompi_op_base_op_select) leaves allocations behind in every rank, whose stacks end in
  # unloaded modules a suppression cannot name; leak detection is off for that test alone
  # (the ranks inherit its environment), memory errors are still detected.
  if("dist" IN_LIST all)
    set_property(TEST dist APPEND PROPERTY ENVIRONMENT
      "ASAN_OPTIONS=detect_leaks=0:strict_string_checks=1:detect_stack_use_after_return=1"
      "UBSAN_OPTIONS=print_stacktrace=1")
  endif()
  set(preloaded "")
  foreach(t IN LISTS python_tests)
    if(t IN_LIST all)
      list(APPEND preloaded ${t})
    endif()
  endforeach()
  if(preloaded)
    if(CMAKE_C_COMPILER_ID MATCHES "Clang")
      set(runtimes libclang_rt.asan-${CMAKE_SYSTEM_PROCESSOR}.so)
    else()
      set(runtimes libasan.so libubsan.so)
    endif()
    set(preload "")
    foreach(rt ${runtimes})
      execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=${rt}
                      OUTPUT_VARIABLE path OUTPUT_STRIP_TRAILING_WHITESPACE)
      list(APPEND preload ${path})
    endforeach()
    string(REPLACE ";" ":" preload "${preload}")
    set_property(TEST ${preloaded} APPEND PROPERTY ENVIRONMENT "LD_PRELOAD=${preload}"
      "ASAN_OPTIONS=detect_leaks=0:strict_string_checks=1" "UBSAN_OPTIONS=print_stacktrace=1")
  endif()
endfunction()
