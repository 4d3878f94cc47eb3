# Tests of the `tracemark` command-line tool (target tracemark_cli: the library owns
# the target name `tracemark`). They run the real executable as a user would.
if(TARGET tracemark_cli)
  find_package(nlohmann_json 3 REQUIRED)
  add_executable(test_cli ${CMAKE_CURRENT_LIST_DIR}/cli/test_cli.cpp)
  target_include_directories(test_cli PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(test_cli PRIVATE tracemark::tracemark tracemark_test_main nlohmann_json::nlohmann_json)
  target_compile_definitions(test_cli PRIVATE TRACEMARK_CLI_PATH="$<TARGET_FILE:tracemark_cli>")
  if(TARGET tracemark::llama)
    target_compile_definitions(test_cli PRIVATE TRACEMARK_CLI_HAS_LLAMA=1)
  endif()
  add_dependencies(test_cli tracemark_cli)
  tracemark_harden(test_cli)
  add_test(NAME cli COMMAND test_cli)

  add_test(NAME cli_version COMMAND tracemark_cli --version)
  set_tests_properties(cli_version PROPERTIES PASS_REGULAR_EXPRESSION "^tracemark ${PROJECT_VERSION} ")

  # The document reader of `detect`, without a tokenizer.
  add_executable(test_cli_units ${CMAKE_CURRENT_LIST_DIR}/cli/test_cli_units.cpp)
  target_include_directories(test_cli_units PRIVATE ${PROJECT_SOURCE_DIR}/tools/tracemark)
  target_link_libraries(test_cli_units PRIVATE tracemark::tracemark tracemark_input_reader tracemark_test_main)
  tracemark_harden(test_cli_units)
  add_test(NAME cli_units COMMAND test_cli_units)

  # `detect` on text with real llama.cpp vocabularies and the shared corpora. Missing
  # vocabularies or corpora make these tests fail, not skip.
  if(TARGET tracemark::llama)
    find_package(OpenSSL 3 REQUIRED)  # SHA-256 of the shared corpora (tests/shared_files.h)
    get_filename_component(_tracemark_cli_llama_prefix "${llama_DIR}/../../.." ABSOLUTE)
    add_executable(test_cli_text ${CMAKE_CURRENT_LIST_DIR}/cli/test_cli_text.cpp)
    target_link_libraries(test_cli_text PRIVATE
      tracemark::tracemark tracemark::llama tracemark_test_main nlohmann_json::nlohmann_json OpenSSL::Crypto)
    target_include_directories(test_cli_text PRIVATE ${CMAKE_CURRENT_LIST_DIR})
    target_compile_definitions(test_cli_text PRIVATE
      TRACEMARK_CLI_PATH="$<TARGET_FILE:tracemark_cli>"
      TRACEMARK_CLI_VOCAB_DIR="${_tracemark_cli_llama_prefix}/share/llama-vocab"
      TRACEMARK_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
    add_dependencies(test_cli_text tracemark_cli)
    tracemark_harden(test_cli_text)
    add_test(NAME cli_text COMMAND test_cli_text)
    set_tests_properties(cli_text PROPERTIES LABELS llama TIMEOUT 900)
  endif()
endif()
