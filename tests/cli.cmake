# Tests of the `tracemark` command-line tool (target tracemark_cli: the library owns
# the target name `tracemark`). They run the real executable as a user would.
if(TARGET tracemark_cli)
  find_package(nlohmann_json 3 REQUIRED)
  add_executable(test_cli ${CMAKE_CURRENT_LIST_DIR}/cli/test_cli.cpp)
  target_link_libraries(test_cli PRIVATE tracemark::tracemark tracemark_test_main nlohmann_json::nlohmann_json)
  target_compile_definitions(test_cli PRIVATE TRACEMARK_CLI_PATH="$<TARGET_FILE:tracemark_cli>")
  add_dependencies(test_cli tracemark_cli)
  tracemark_harden(test_cli)
  add_test(NAME cli COMMAND test_cli)

  add_test(NAME cli_version COMMAND tracemark_cli --version)
  set_tests_properties(cli_version PROPERTIES PASS_REGULAR_EXPRESSION "^tracemark ${PROJECT_VERSION} ")
endif()
