# Signed evidence records through the `tracemark` executable (keygen --signing, detect and
# merge --sign, verify); the library side is tests/test_signing.cpp.
if(TARGET tracemark_cli)
  find_package(nlohmann_json 3 REQUIRED)
  add_executable(test_cli_signing ${CMAKE_CURRENT_LIST_DIR}/cli/test_cli_signing.cpp)
  target_include_directories(test_cli_signing PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(test_cli_signing PRIVATE tracemark::tracemark tracemark_test_main nlohmann_json::nlohmann_json)
  target_compile_definitions(test_cli_signing PRIVATE TRACEMARK_CLI_PATH="$<TARGET_FILE:tracemark_cli>")
  add_dependencies(test_cli_signing tracemark_cli)
  tracemark_harden(test_cli_signing)
  add_test(NAME cli_signing COMMAND test_cli_signing)
endif()
