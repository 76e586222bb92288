# FindHsDNNL: oneDNN (DNNL) for the nn layer, as the imported target HsDNNL::dnnl.
#
# Debian's libdnnl-dev ships a CMake package whose config insists on OpenCL (it was built
# with the OpenCL GPU runtime, which we never use) and may ship no pkg-config file, so the
# header and library are looked up directly. Set HS_DNNL_INCLUDE_DIR / HS_DNNL_LIBRARY to
# point elsewhere.
find_path(HS_DNNL_INCLUDE_DIR NAMES dnnl.h PATH_SUFFIXES oneapi/dnnl)
find_library(HS_DNNL_LIBRARY NAMES dnnl)
mark_as_advanced(HS_DNNL_INCLUDE_DIR HS_DNNL_LIBRARY)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(HsDNNL REQUIRED_VARS HS_DNNL_LIBRARY HS_DNNL_INCLUDE_DIR)

if(HsDNNL_FOUND AND NOT TARGET HsDNNL::dnnl)
  add_library(HsDNNL::dnnl UNKNOWN IMPORTED)
  set_target_properties(HsDNNL::dnnl PROPERTIES
    IMPORTED_LOCATION "${HS_DNNL_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${HS_DNNL_INCLUDE_DIR}")
endif()
