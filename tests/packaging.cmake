# Packaging is tested like any other feature: a separate project consumes tracemark
# through find_package() after `cmake --install`, and through add_subdirectory().
foreach(mode find_package add_subdirectory)
  add_test(NAME packaging_${mode}
    COMMAND ${CMAKE_COMMAND}
      -DMODE=${mode}
      -DBUILD_DIR=${PROJECT_BINARY_DIR}
      -DTRACEMARK_ROOT=${PROJECT_SOURCE_DIR}
      -DCONSUMER_DIR=${CMAKE_CURRENT_SOURCE_DIR}/packaging
      -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/packaging_${mode}
      -DGENERATOR=${CMAKE_GENERATOR}
      -DSANITIZE=${TRACEMARK_SANITIZE}
      -P ${CMAKE_CURRENT_SOURCE_DIR}/packaging/run_consumer.cmake)
endforeach()
set_tests_properties(packaging_find_package packaging_add_subdirectory PROPERTIES TIMEOUT 600)
