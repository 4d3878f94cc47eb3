# Round trips and the text front door across the CLI, the server and the audit, on the
# shared stories260K model (checksum-verified; missing: the tests FAIL) and llama.cpp's
# SentencePiece vocabulary. They run the real `tracemark` binary (generate, detect, audit)
# and start `tracemark serve` on 127.0.0.1 with --port 0, talking to it with cpp-httplib.
#   test_cli_roundtrip    generate -> detect (ids, text), serve response bodies -> detect
#                         (--accounts too), generate -> audit --suspect-outputs
#   test_cli_front_door   the same (prompt, text) pairs through detect, /v1/detect and audit
#                         score the same tuples (docs/SPEC.md §7)
if(TARGET tracemark_cli AND TRACEMARK_WITH_LLAMA AND TARGET tracemark::llama)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(TRACEMARK_RT_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
  find_package(OpenSSL 3 REQUIRED)
  find_package(nlohmann_json 3 REQUIRED)
  find_package(Threads REQUIRED)
  get_filename_component(_tracemark_rt_llama_prefix "${llama_DIR}/../../.." ABSOLUTE)

  foreach(_rt_test test_cli_roundtrip test_cli_front_door)
    add_executable(${_rt_test} ${CMAKE_CURRENT_LIST_DIR}/cli/${_rt_test}.cpp)
    target_link_libraries(${_rt_test} PRIVATE
      tracemark::tracemark tracemark::llama tracemark_test_main PkgConfig::TRACEMARK_RT_HTTPLIB OpenSSL::Crypto
      nlohmann_json::nlohmann_json Threads::Threads)
    target_include_directories(${_rt_test} PRIVATE ${CMAKE_CURRENT_LIST_DIR} ${CMAKE_CURRENT_LIST_DIR}/cli)
    target_compile_definitions(${_rt_test} PRIVATE
      TRACEMARK_CLI_PATH="$<TARGET_FILE:tracemark_cli>"
      TRACEMARK_CLI_VOCAB_DIR="${_tracemark_rt_llama_prefix}/share/llama-vocab"
      TRACEMARK_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
    add_dependencies(${_rt_test} tracemark_cli)
    tracemark_harden(${_rt_test})
    add_test(NAME ${_rt_test} COMMAND ${_rt_test})
    set_tests_properties(${_rt_test} PROPERTIES LABELS "llama;server;roundtrip" TIMEOUT 600)
  endforeach()
endif()
