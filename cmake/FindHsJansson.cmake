# FindHsJansson: the jansson JSON library (the train layer reads config.json and summary.json
# with it), as the imported target HsJansson::jansson.
#
# Found through its pkg-config file jansson.pc (Debian: libjansson-dev); the header and the
# library are then looked up with its directories as hints, so HS_JANSSON_INCLUDE_DIR /
# HS_JANSSON_LIBRARY can point elsewhere. HS_JANSSON_PC_LIBS (a cache entry, because
# hs_layer_option calls find_package inside a function): the flags a static consumer's
# pkg-config file lists for it.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_HS_JANSSON QUIET jansson)
endif()
find_path(HS_JANSSON_INCLUDE_DIR NAMES jansson.h HINTS ${PC_HS_JANSSON_INCLUDE_DIRS})
find_library(HS_JANSSON_LIBRARY NAMES jansson HINTS ${PC_HS_JANSSON_LIBRARY_DIRS})
mark_as_advanced(HS_JANSSON_INCLUDE_DIR HS_JANSSON_LIBRARY)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(HsJansson
  REQUIRED_VARS HS_JANSSON_LIBRARY HS_JANSSON_INCLUDE_DIR
  VERSION_VAR PC_HS_JANSSON_VERSION)

if(HsJansson_FOUND)
  if(PC_HS_JANSSON_FOUND)
    set(_hs_jansson_libs ${PC_HS_JANSSON_LDFLAGS})
  else()
    get_filename_component(_hs_jansson_dir "${HS_JANSSON_LIBRARY}" DIRECTORY)
    set(_hs_jansson_libs "-L${_hs_jansson_dir}" -ljansson)
  endif()
  set(HS_JANSSON_PC_LIBS "${_hs_jansson_libs}" CACHE INTERNAL "jansson for static linking (pkg-config)")
  if(NOT TARGET HsJansson::jansson)
    add_library(HsJansson::jansson UNKNOWN IMPORTED)
    set_target_properties(HsJansson::jansson PROPERTIES
      IMPORTED_LOCATION "${HS_JANSSON_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${HS_JANSSON_INCLUDE_DIR}")
  endif()
endif()
