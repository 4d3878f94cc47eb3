# Mergeable evidence through the command line (docs/EVIDENCE.md "Evidence files"):
# `detect --corpus-only --save-evidence` per shard + `tracemark merge` against one
# `detect --corpus-only` over the whole corpus, and the refusals. The library-level tests
# are tests/test_corpus_evidence.cpp (built by tests/CMakeLists.txt like every test_*.cpp).
# The text case needs the shared stories260K model (checksum verified; missing fails).
if(TARGET tracemark_cli)
  find_package(nlohmann_json 3 REQUIRED)
  find_package(OpenSSL 3 REQUIRED)  # SHA-256 of the shared model (tests/shared_files.h)
  add_executable(test_cli_evidence ${CMAKE_CURRENT_LIST_DIR}/cli/test_cli_evidence.cpp)
  target_include_directories(test_cli_evidence PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(test_cli_evidence PRIVATE
    tracemark::tracemark tracemark_test_main nlohmann_json::nlohmann_json OpenSSL::Crypto)
  target_compile_definitions(test_cli_evidence PRIVATE
    TRACEMARK_CLI_PATH="$<TARGET_FILE:tracemark_cli>"
    TRACEMARK_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    TRACEMARK_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
  if(TARGET tracemark::llama)
    target_compile_definitions(test_cli_evidence PRIVATE TRACEMARK_CLI_HAS_LLAMA=1)
  endif()
  add_dependencies(test_cli_evidence tracemark_cli)
  tracemark_harden(test_cli_evidence)
  add_test(NAME cli_evidence COMMAND test_cli_evidence)
  set_tests_properties(cli_evidence PROPERTIES TIMEOUT 300)
endif()
