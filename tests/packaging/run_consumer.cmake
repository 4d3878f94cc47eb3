# cmake -P script: builds and runs tests/packaging as a separate project.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

# A sanitized tracemark needs the sanitizer runtime in the consumer too.
set(flags)
if(SANITIZE)
  set(flags "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined"
            -DTRACEMARK_SANITIZE=ON)
endif()

if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix --component Unspecified)
  if(NOT EXISTS ${WORK_DIR}/prefix/include/tracemark/tracemark.hpp)
    message(FATAL_ERROR "install did not place the public headers")
  endif()
  run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
      -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release ${flags})
else()
  run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
      -DTRACEMARK_SOURCE=${TRACEMARK_ROOT} -DCMAKE_BUILD_TYPE=Release ${flags})
  # As a subproject, tracemark must not build its tests, tools or benchmarks.
  file(READ ${WORK_DIR}/build/CMakeCache.txt cache)
  if(NOT cache MATCHES "TRACEMARK_BUILD_TESTS:BOOL=OFF")
    message(FATAL_ERROR "tests are enabled when tracemark is a subproject")
  endif()
endif()
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
