# CTest `consumer` (cmake -P): installs the build into a temporary prefix and uses it as an
# outside project would:
#   1. find_package(hypersimplex COMPONENTS <built layers>) (tests/consumer/CMakeLists.txt),
#      every program linked shared and static, and run;
#   2. pkg-config from the install (shared, and static with the libraries' Libs.private);
#   3. pkg-config from the build tree (build/pkgconfig).
# Inputs: HS_BUILD_DIR, HS_CONSUMER_SOURCE_DIR, HS_WORK_DIR, HS_LAYERS (comma-separated),
# HS_GENERATOR, HS_C_COMPILER, HS_C_FLAGS (compile and link flags the installed libraries
# need of a program: the sanitizer flags of a sanitizer tree, else empty).
cmake_minimum_required(VERSION 3.25)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(out)
    message("${out}")
  endif()
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " cmd)
    message(FATAL_ERROR "failed (${rc}): ${cmd}\n${err}")
  endif()
endfunction()

set(prefix "${HS_WORK_DIR}/prefix")
file(REMOVE_RECURSE "${HS_WORK_DIR}")
file(MAKE_DIRECTORY "${HS_WORK_DIR}")
run(${CMAKE_COMMAND} --install "${HS_BUILD_DIR}" --prefix "${prefix}")

# 1. CMake package
set(build "${HS_WORK_DIR}/build")
run(${CMAKE_COMMAND} -S "${HS_CONSUMER_SOURCE_DIR}" -B "${build}" -G "${HS_GENERATOR}"
  -DCMAKE_C_COMPILER=${HS_C_COMPILER} "-DCMAKE_C_FLAGS=${HS_C_FLAGS}"
  -DCMAKE_PREFIX_PATH=${prefix} -DHS_LAYERS=${HS_LAYERS})
run(${CMAKE_COMMAND} --build "${build}")
string(REPLACE "," ";" layers "${HS_LAYERS}")
foreach(program operator ${layers})
  foreach(kind "" _static)
    message(STATUS "find_package: ${program}${kind}")
    run("${build}/${program}${kind}")
  endforeach()
endforeach()

# 2 and 3. pkg-config
find_program(PKG_CONFIG NAMES pkg-config)
if(NOT PKG_CONFIG)
  message(FATAL_ERROR "pkg-config not found: cannot check the .pc files")
endif()
file(GLOB_RECURSE installed_pc "${prefix}/*/hypersimplex.pc")
if(NOT installed_pc)
  message(FATAL_ERROR "no hypersimplex.pc under ${prefix}")
endif()
get_filename_component(installed_pc_dir "${installed_pc}" DIRECTORY)
get_filename_component(installed_lib_dir "${installed_pc_dir}" DIRECTORY)

# pc_build(<pc dir> <lib dir> <module> <source> <program> <static>): compiles and runs one
# program with the flags pkg-config gives. Static: --static flags, our libraries taken as .a.
function(pc_build pc_dir lib_dir module source program static)
  set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
  set(args --cflags --libs)
  if(static)
    list(APPEND args --static)
  endif()
  execute_process(COMMAND ${PKG_CONFIG} ${args} ${module} RESULT_VARIABLE rc
    OUTPUT_VARIABLE flags ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config ${args} ${module} (PKG_CONFIG_PATH=${pc_dir}): ${err}")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  if(static)
    list(TRANSFORM flags REPLACE "^-l(hypersimplex.*)$" "-l:lib\\1.a")
  endif()
  message(STATUS "pkg-config: ${program}: ${flags}")
  run(${HS_C_COMPILER} -std=c11 ${HS_C_FLAGS} -o "${HS_WORK_DIR}/${program}" "${HS_CONSUMER_SOURCE_DIR}/${source}" ${flags})
  set(ENV{LD_LIBRARY_PATH} "${lib_dir}")
  run("${HS_WORK_DIR}/${program}")
  unset(ENV{LD_LIBRARY_PATH})
endfunction()

foreach(program operator ${layers})
  if(program STREQUAL "operator")
    set(module hypersimplex)
  else()
    set(module hypersimplex-${program})
  endif()
  pc_build("${installed_pc_dir}" "${installed_lib_dir}" ${module} ${program}.c pc_${program} FALSE)
  pc_build("${installed_pc_dir}" "${installed_lib_dir}" ${module} ${program}.c pc_${program}_static TRUE)
  pc_build("${HS_BUILD_DIR}/pkgconfig" "${HS_BUILD_DIR}" ${module} ${program}.c pc_build_tree_${program} FALSE)
endforeach()
message(STATUS "consumer: ${HS_LAYERS} and the base library found, linked and run, shared and static")
