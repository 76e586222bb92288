# FindHsXGBoost: XGBoost's C API for the gbrt layer, as the imported target HsXGBoost::xgboost.
#
# Debian's libxgboost-dev ships a CMake package that fails to load (it names the xgboost
# command-line program, which is in another package), so the header and library are looked
# up directly. Set HS_XGBOOST_INCLUDE_DIR /
# HS_XGBOOST_LIBRARY to point elsewhere.
find_path(HS_XGBOOST_INCLUDE_DIR NAMES xgboost/c_api.h)
find_library(HS_XGBOOST_LIBRARY NAMES xgboost)
mark_as_advanced(HS_XGBOOST_INCLUDE_DIR HS_XGBOOST_LIBRARY)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(HsXGBoost REQUIRED_VARS HS_XGBOOST_LIBRARY HS_XGBOOST_INCLUDE_DIR)

if(HsXGBoost_FOUND AND NOT TARGET HsXGBoost::xgboost)
  add_library(HsXGBoost::xgboost UNKNOWN IMPORTED)
  set_target_properties(HsXGBoost::xgboost PROPERTIES
    IMPORTED_LOCATION "${HS_XGBOOST_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${HS_XGBOOST_INCLUDE_DIR}")
endif()
