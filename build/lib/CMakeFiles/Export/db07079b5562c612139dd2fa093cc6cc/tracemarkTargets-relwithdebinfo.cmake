#----------------------------------------------------------------
# Generated CMake target import file for configuration "RelWithDebInfo".
#----------------------------------------------------------------

# Commands may need to know the format version.
set(CMAKE_IMPORT_FILE_VERSION 1)

# Import target "tracemark::tracemark" for configuration "RelWithDebInfo"
set_property(TARGET tracemark::tracemark APPEND PROPERTY IMPORTED_CONFIGURATIONS RELWITHDEBINFO)
set_target_properties(tracemark::tracemark PROPERTIES
  IMPORTED_LINK_INTERFACE_LANGUAGES_RELWITHDEBINFO "CXX"
  IMPORTED_LOCATION_RELWITHDEBINFO "${_IMPORT_PREFIX}/lib/libtracemark.a"
  )

list(APPEND _cmake_import_check_targets tracemark::tracemark )
list(APPEND _cmake_import_check_files_for_tracemark::tracemark "${_IMPORT_PREFIX}/lib/libtracemark.a" )

# Commands beyond this point should not need to know the version.
set(CMAKE_IMPORT_FILE_VERSION)
