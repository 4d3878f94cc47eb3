# The multi-threaded tests, labelled 'threads': one watermarker shared by many threads
# (test_encoder, test_green_cache), detect's worker pool on token ids (cli: --threads 1,
# 3, 4) and on text through a shared llama.cpp vocabulary (cli_text_threads: -j 2), and
# the server's HTTP and model workers (test_server, concurrent requests). A
# ThreadSanitizer build (-DTRACEMARK_TSAN=ON) builds them with `--target thread_tests`
# and runs them with `ctest -L threads` (scripts/setup.sh test does; docs/TESTING.md).
add_custom_target(thread_tests)
set(_thread_tests test_encoder test_green_cache cli test_server)
foreach(_t ${_thread_tests})
  if(TEST ${_t})
    set_property(TEST ${_t} APPEND PROPERTY LABELS threads)
  endif()
endforeach()
foreach(_target test_encoder test_green_cache test_cli test_server tracemark_cli)
  if(TARGET ${_target})
    add_dependencies(thread_tests ${_target})
  endif()
endforeach()

# Under TSan: the suppressions (tests/tsan.supp says why) and reports written to
# tsan-reports/ (the server's standard error goes to a log the test deletes;
# scripts/setup.sh prints the reports when a test fails).
set(_tsan_options "suppressions=${CMAKE_CURRENT_LIST_DIR}/tsan.supp:halt_on_error=1:second_deadlock_stack=1:log_path=${CMAKE_BINARY_DIR}/tsan-reports/report")

# The -j 2 cases of cli_text, on their own: under ASan they already run inside cli_text.
if(TRACEMARK_TSAN AND TARGET test_cli_text)
  add_test(NAME cli_text_threads COMMAND test_cli_text
    "--test-case=text: marked text is detected*,text: --corpus aggregates*")
  set_tests_properties(cli_text_threads PROPERTIES LABELS "llama;threads" TIMEOUT 900)
  add_dependencies(thread_tests test_cli_text)
  list(APPEND _thread_tests cli_text_threads)
endif()

if(TRACEMARK_TSAN)
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/tsan-reports)
  foreach(_t ${_thread_tests})
    if(TEST ${_t})
      set_property(TEST ${_t} APPEND PROPERTY ENVIRONMENT "TSAN_OPTIONS=${_tsan_options}")
    endif()
  endforeach()
endif()
