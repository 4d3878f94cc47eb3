# Tests of `tracemark serve` (docs/SERVER.md). They start the real server binary on
# 127.0.0.1 with an ephemeral port (--port 0), talk to it over HTTP with cpp-httplib,
# and stop it at the end. The model is ../shared/models/stories260K.gguf, checksum-verified.
if(TARGET tracemark_cli AND TRACEMARK_WITH_LLAMA)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(CPP_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
  find_package(OpenSSL 3 REQUIRED)
  find_package(nlohmann_json 3 REQUIRED)
  find_package(Threads REQUIRED)
  add_executable(test_server ${CMAKE_CURRENT_LIST_DIR}/server/test_server.cpp)
  target_link_libraries(test_server PRIVATE
    tracemark::tracemark tracemark_test_main PkgConfig::CPP_HTTPLIB OpenSSL::Crypto
    nlohmann_json::nlohmann_json Threads::Threads)
  target_compile_definitions(test_server PRIVATE
    TRACEMARK_CLI_PATH="$<TARGET_FILE:tracemark_cli>"
    TRACEMARK_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
  target_include_directories(test_server PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  add_dependencies(test_server tracemark_cli)
  tracemark_harden(test_server)
  add_test(NAME test_server COMMAND test_server)
  set_tests_properties(test_server PROPERTIES LABELS "llama;server" TIMEOUT 600)
endif()
