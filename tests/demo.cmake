# The real demo of `scripts/setup.sh demo` (scripts/demo.sh): the shipped stories260K model
# writes marked and unmarked stories, `detect` finds them from their text, names the
# accounts and writes the HTML report; the script exits non-zero when any verdict or
# account is wrong. Only with llama.cpp (generate, text input); without it the toy
# `tracemark demo` is tested in tests/cli.
if(TRACEMARK_WITH_LLAMA AND TARGET tracemark_cli)
  # The script keeps its working directory for the reader: keep CI's inside the build tree.
  set(_tracemark_demo_tmp "${CMAKE_CURRENT_BINARY_DIR}/demo-tmp")
  file(MAKE_DIRECTORY "${_tracemark_demo_tmp}")
  add_test(NAME demo COMMAND ${PROJECT_SOURCE_DIR}/scripts/demo.sh $<TARGET_FILE:tracemark_cli>)
  set_tests_properties(demo PROPERTIES LABELS demo TIMEOUT 300 ENVIRONMENT "TMPDIR=${_tracemark_demo_tmp}")
endif()
