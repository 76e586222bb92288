# The layers of the library as build targets (docs/build.md).
#
# The base library `hypersimplex` (src/util and src/core: the operator, its variants, the
# losses) needs only libm and, optionally, OpenMP. Every other layer in src/<layer> is a
# library of its own, hypersimplex_<layer>, built when its option HS_WITH_<LAYER> and its
# prerequisites allow. A layer links PRIVATE the third-party libraries it uses and PUBLIC the
# layers its public header builds on. A target sees the internal headers ("<layer>/x.h") of
# its own layer and of util only, so a file that reaches into another layer's internals fails
# to compile; shared layers link with --no-undefined, so calling a layer that is not linked
# fails to link.

# How the messages about a missing dependency name each package.
set(HS_PACKAGE_ZLIB "zlib (Debian: zlib1g-dev)")
set(HS_PACKAGE_GSL "GSL (Debian: libgsl-dev)")
set(HS_PACKAGE_HsDNNL "oneDNN (Debian: libdnnl-dev)")
set(HS_PACKAGE_HsXGBoost "XGBoost (Debian: libxgboost-dev)")
set(HS_PACKAGE_HsJansson "jansson (Debian: libjansson-dev)")

# hs_layer_option(<layer> <description> [LAYERS <layer>...] [PACKAGES <package>...])
#
# The cache entry HS_WITH_<LAYER> is AUTO (the default: built when the LAYERS are built and
# the PACKAGES are found, else left out with a warning), ON (required: a missing
# prerequisite is an error) or OFF. Sets HS_BUILD_<LAYER> to TRUE or FALSE, appends built
# layers to HS_BUILT_LAYERS, and records the layer's prerequisites for the package config
# (global properties HS_LAYER_<layer>_LAYERS / _PACKAGES). Call in dependency order.
function(hs_layer_option layer description)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "" "LAYERS;PACKAGES")
  string(TOUPPER "${layer}" L)
  set(HS_WITH_${L} AUTO CACHE STRING
      "${description}: AUTO (built when its prerequisites are found), ON (required) or OFF")
  set_property(CACHE HS_WITH_${L} PROPERTY STRINGS AUTO ON OFF)
  set_property(GLOBAL PROPERTY HS_LAYER_${layer}_LAYERS "${arg_LAYERS}")
  set_property(GLOBAL PROPERTY HS_LAYER_${layer}_PACKAGES "${arg_PACKAGES}")
  set(HS_BUILD_${L} FALSE PARENT_SCOPE)

  string(TOUPPER "${HS_WITH_${L}}" mode)
  if(NOT mode STREQUAL "AUTO" AND NOT HS_WITH_${L})
    message(STATUS "hypersimplex: the ${layer} layer is off (HS_WITH_${L}=${HS_WITH_${L}})")
    return()
  endif()

  set(missing "")
  set(missing_package FALSE)
  foreach(dep IN LISTS arg_LAYERS)
    string(TOUPPER "${dep}" D)
    if(NOT HS_BUILD_${D})
      list(APPEND missing "it needs the ${dep} layer, which is off")
    endif()
  endforeach()
  if(NOT missing)
    foreach(pkg IN LISTS arg_PACKAGES)
      find_package(${pkg} QUIET)
      if(NOT ${pkg}_FOUND)
        list(APPEND missing "${HS_PACKAGE_${pkg}} was not found")
        set(missing_package TRUE)
      endif()
    endforeach()
  endif()

  if(missing)
    list(JOIN missing "; " why)
    if(NOT mode STREQUAL "AUTO")
      message(FATAL_ERROR "HS_WITH_${L}=${HS_WITH_${L}}, but ${why}")
    elseif(missing_package)
      message(WARNING "hypersimplex: the ${layer} layer is left out: ${why}")
    else()
      message(STATUS "hypersimplex: the ${layer} layer is left out: ${why}")
    endif()
    return()
  endif()
  set(HS_BUILD_${L} TRUE PARENT_SCOPE)
  set(HS_BUILT_LAYERS ${HS_BUILT_LAYERS} ${layer} PARENT_SCOPE)
endfunction()

# hs_static_libraries(<var> <layer>...): <var> = the static libraries of those layers and of
# the base library, or empty if one of the layers is not built (tests, benchmarks).
function(hs_static_libraries var)
  set(libs "")
  foreach(layer IN LISTS ARGN)
    string(TOUPPER "${layer}" L)
    if(NOT HS_BUILD_${L})
      set(${var} "" PARENT_SCOPE)
      return()
    endif()
    list(APPEND libs hypersimplex_${layer}_static)
  endforeach()
  set(${var} ${libs} hypersimplex_static PARENT_SCOPE)
endfunction()

# hs_use_internals(<target> <layer>...): lets <target> include "<layer>/x.h" from src/<layer>.
# Each layer has an include root of its own in the build tree that holds a single symbolic
# link, <layer> -> src/<layer>; src/ itself is never an include directory.
function(hs_use_internals target)
  foreach(layer IN LISTS ARGN)
    set(root "${PROJECT_BINARY_DIR}/internal/${layer}")
    if(NOT IS_SYMLINK "${root}/${layer}")
      file(MAKE_DIRECTORY "${root}")
      file(CREATE_LINK "${PROJECT_SOURCE_DIR}/src/${layer}" "${root}/${layer}" SYMBOLIC)
    endif()
    target_include_directories(${target} PRIVATE "${root}")
  endforeach()
endfunction()

# hs_layer_objects(<layer> SOURCES <file>... [LINK <target>...] [OPENMP] [EXPORT_ALL])
#
# The position-independent objects of src/<layer> (target hs_<layer>_obj), from which both the
# shared and the static library are made. LINK targets give their include directories and
# definitions here; the libraries link them. Symbols are hidden unless marked HS_API, or
# EXPORT_ALL (util: its helpers serve the other layers' shared libraries).
function(hs_layer_objects layer)
  cmake_parse_arguments(PARSE_ARGV 1 arg "OPENMP;EXPORT_ALL" "" "SOURCES;LINK")
  set(obj hs_${layer}_obj)
  add_library(${obj} OBJECT ${arg_SOURCES})
  set_target_properties(${obj} PROPERTIES POSITION_INDEPENDENT_CODE ON C_VISIBILITY_PRESET hidden)
  if(arg_EXPORT_ALL)
    set_target_properties(${obj} PROPERTIES C_VISIBILITY_PRESET default)
  endif()
  target_include_directories(${obj} PRIVATE "${PROJECT_SOURCE_DIR}/include")
  hs_use_internals(${obj} util ${layer})
  target_compile_definitions(${obj} PRIVATE HS_BUILD_SHARED)
  target_link_libraries(${obj} PRIVATE hs_warnings ${arg_LINK})
  if(arg_OPENMP AND HS_OPENMP)
    target_link_libraries(${obj} PRIVATE OpenMP::OpenMP_C)
    target_compile_definitions(${obj} PRIVATE HS_HAVE_OPENMP=1)
  endif()
endfunction()

# hs_library(<name> <export name> OBJECTS <layer>... [PUBLIC <layer>...] [LINK <target>...] [OPENMP])
#
# <name> (shared) and <name>_static (lib<name>.a) from the objects of the given layers,
# exported as hypersimplex::<export name> and hypersimplex::<export name>_static in the export
# set <name>-targets. PUBLIC layers are linked PUBLIC (the static library links their static
# libraries); libm and the LINK targets (third-party) PRIVATE.
function(hs_library name export_name)
  cmake_parse_arguments(PARSE_ARGV 2 arg "OPENMP" "" "OBJECTS;PUBLIC;LINK")
  set(objects "")
  foreach(layer IN LISTS arg_OBJECTS)
    list(APPEND objects $<TARGET_OBJECTS:hs_${layer}_obj>)
  endforeach()
  set(link m ${arg_LINK})
  if(arg_OPENMP AND HS_OPENMP)
    list(APPEND link OpenMP::OpenMP_C)
  endif()

  add_library(${name} SHARED ${objects})
  add_library(${name}_static STATIC ${objects})
  set_target_properties(${name} PROPERTIES
    VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
    EXPORT_NAME ${export_name}
    INSTALL_RPATH "$ORIGIN")
  set_target_properties(${name}_static PROPERTIES OUTPUT_NAME ${name} EXPORT_NAME ${export_name}_static)
  # Not in sanitizer trees: there the sanitizer runtime's symbols stay undefined in shared
  # libraries, for the executable to supply (cmake/sanitizers.cmake).
  if(NOT HS_SANITIZE_ACTIVE)
    target_link_options(${name} PRIVATE LINKER:--no-undefined)
  endif()
  foreach(dep IN LISTS arg_PUBLIC)
    target_link_libraries(${name} PUBLIC ${dep})
    target_link_libraries(${name}_static PUBLIC ${dep}_static)
  endforeach()
  target_link_libraries(${name} PRIVATE ${link})
  target_link_libraries(${name}_static PRIVATE ${link})

  install(TARGETS ${name} ${name}_static EXPORT ${name}-targets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT ${name}-targets NAMESPACE hypersimplex::
    DESTINATION ${HS_INSTALL_CMAKEDIR})
endfunction()

# hs_add_layer(<layer> SOURCES <file>... [PUBLIC <layer>...] [LINK <target>...] [OPENMP])
#
# A layer above the base library, from its folder's CMakeLists.txt: the objects, then
# hypersimplex_<layer> and hypersimplex_<layer>_static, which build on the base library and
# the PUBLIC layers, its header include/hypersimplex/<layer>.h installed with it, and its
# pkg-config file hypersimplex-<layer>.pc (PC_LIBS: its third-party libraries for static
# linking).
function(hs_add_layer layer)
  cmake_parse_arguments(PARSE_ARGV 1 arg "OPENMP" "" "SOURCES;PUBLIC;LINK;PC_LIBS")
  set(openmp "")
  if(arg_OPENMP)
    set(openmp OPENMP)
  endif()
  hs_layer_objects(${layer} SOURCES ${arg_SOURCES} LINK ${arg_LINK} ${openmp})
  set(public hypersimplex)
  set(pc_requires hypersimplex)
  foreach(dep IN LISTS arg_PUBLIC)
    list(APPEND public hypersimplex_${dep})
    list(APPEND pc_requires hypersimplex-${dep})
  endforeach()
  hs_library(hypersimplex_${layer} ${layer} OBJECTS ${layer} PUBLIC ${public} LINK ${arg_LINK} ${openmp})
  install(FILES "${PROJECT_SOURCE_DIR}/include/hypersimplex/${layer}.h"
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/hypersimplex)

  set(pc_libs ${arg_PC_LIBS})
  if(arg_OPENMP AND HS_OPENMP)
    list(APPEND pc_libs ${OpenMP_C_FLAGS})
  endif()
  list(JOIN pc_requires ", " pc_requires)
  list(JOIN pc_libs " " pc_libs)
  hs_pkg_config(hypersimplex-${layer} hypersimplex_${layer}
    "hypersimplex: the ${layer} layer" "${pc_requires}" "${pc_libs}")
endfunction()

# hs_pkg_config(<file name> <library> <description> <requires> <private libs>)
#
# Writes <file name>.pc twice: build/pkgconfig/ for use from the build tree
# (PKG_CONFIG_PATH=build/pkgconfig: the libraries in build/, the headers in include/), and
# an installed one that finds its prefix relative to its own location.
function(hs_pkg_config file library description requires private_libs)
  set(HS_PC_NAME ${file})
  set(HS_PC_DESCRIPTION "${description}")
  set(HS_PC_LIB ${library})
  set(HS_PC_REQUIRES "${requires}")
  set(HS_PC_LIBS_PRIVATE "${private_libs}")

  set(HS_PC_DIRS "libdir=${PROJECT_BINARY_DIR}\nincludedir=${PROJECT_SOURCE_DIR}/include")
  configure_file("${PROJECT_SOURCE_DIR}/cmake/hypersimplex.pc.in"
    "${PROJECT_BINARY_DIR}/pkgconfig/${file}.pc" @ONLY)

  # The path from <prefix>/<libdir>/pkgconfig back to <prefix>, so that the installed file
  # stays right under `cmake --install --prefix` and after the tree is moved.
  file(RELATIVE_PATH up "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  string(REGEX REPLACE "/$" "" up "${up}")
  set(HS_PC_DIRS "prefix=\${pcfiledir}/${up}\nlibdir=\${prefix}/${CMAKE_INSTALL_LIBDIR}\nincludedir=\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
  configure_file("${PROJECT_SOURCE_DIR}/cmake/hypersimplex.pc.in"
    "${PROJECT_BINARY_DIR}/pkgconfig-install/${file}.pc" @ONLY)
  install(FILES "${PROJECT_BINARY_DIR}/pkgconfig-install/${file}.pc"
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endfunction()
