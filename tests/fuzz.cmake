# Fuzzing the document reader of `tracemark detect` (tools/tracemark/detect/input_reader.cpp).
#
# * Always (any compiler): fuzz_input_reader_replay runs the fuzz target over the seed
#   corpus tests/fuzz/corpus/ as a plain ctest, so CI exercises it.
# * With clang and -DTRACEMARK_FUZZ=ON: the libFuzzer binary fuzz_input_reader, built with
#   -fsanitize=fuzzer,address,undefined (Debian 12: apt-get install clang libclang-rt-14-dev).
#   Run: build-fuzz/tests/fuzz_input_reader -max_total_time=600 tests/fuzz/corpus
option(TRACEMARK_FUZZ "Build the libFuzzer targets (needs clang)" OFF)

set(_tracemark_reader_dir ${PROJECT_SOURCE_DIR}/tools/tracemark/detect)
set(_tracemark_reader_src ${_tracemark_reader_dir}/input_reader.cpp ${_tracemark_reader_dir}/byte_sources.cpp)
if(EXISTS ${_tracemark_reader_dir}/input_reader.cpp)
  find_package(nlohmann_json 3 REQUIRED)

  add_executable(fuzz_input_reader_replay
    ${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzz_input_reader.cpp
    ${CMAKE_CURRENT_LIST_DIR}/fuzz/replay_main.cpp
    ${_tracemark_reader_src})
  target_include_directories(fuzz_input_reader_replay PRIVATE ${PROJECT_SOURCE_DIR}/tools/tracemark)
  target_link_libraries(fuzz_input_reader_replay PRIVATE tracemark::tracemark nlohmann_json::nlohmann_json)
  tracemark_harden(fuzz_input_reader_replay)
  add_test(NAME fuzz_input_reader_replay COMMAND fuzz_input_reader_replay ${CMAKE_CURRENT_LIST_DIR}/fuzz/corpus)

  if(TRACEMARK_FUZZ)
    if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
      message(FATAL_ERROR "TRACEMARK_FUZZ=ON needs clang (libFuzzer): configure with CXX=clang++ CC=clang")
    endif()
    add_executable(fuzz_input_reader ${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzz_input_reader.cpp ${_tracemark_reader_src})
    target_include_directories(fuzz_input_reader PRIVATE ${PROJECT_SOURCE_DIR}/tools/tracemark)
    target_link_libraries(fuzz_input_reader PRIVATE tracemark::tracemark nlohmann_json::nlohmann_json)
    target_compile_options(fuzz_input_reader PRIVATE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
                                                     -fno-omit-frame-pointer -g -O1)
    target_link_options(fuzz_input_reader PRIVATE -fsanitize=fuzzer,address,undefined)
    tracemark_harden(fuzz_input_reader)
  endif()
endif()
