# llama.cpp adapter tests (only with -DTRACEMARK_WITH_LLAMA=ON).
# The vocabularies and their tokenizer test vectors (llama.cpp's models/ggml-vocab-*)
# are installed by scripts/install_llama.sh into <prefix>/share/llama-vocab.
if(TRACEMARK_WITH_LLAMA)
  get_filename_component(_tracemark_llama_prefix "${llama_DIR}/../../.." ABSOLUTE)
  set(TRACEMARK_LLAMA_VOCAB_DIR "${_tracemark_llama_prefix}/share/llama-vocab" CACHE PATH
    "Directory with llama.cpp's ggml-vocab-*.gguf files and their .inp/.out test vectors")

  add_executable(test_tokenizer_vectors ${CMAKE_CURRENT_SOURCE_DIR}/llama/test_tokenizer_vectors.cpp)
  target_link_libraries(test_tokenizer_vectors PRIVATE tracemark::llama tracemark_test_main)
  target_compile_definitions(test_tokenizer_vectors PRIVATE
    TRACEMARK_LLAMA_VOCAB_DIR="${TRACEMARK_LLAMA_VOCAB_DIR}")
  tracemark_harden(test_tokenizer_vectors)
  add_test(NAME test_tokenizer_vectors COMMAND test_tokenizer_vectors)
  set_tests_properties(test_tokenizer_vectors PROPERTIES LABELS llama TIMEOUT 600)
endif()

# Real-text validity (issue 3, item 5; docs/VALIDITY.md): the shared corpora tokenized
# with real vocabularies, scored in 200-token windows under fresh random keys.
if(TRACEMARK_WITH_LLAMA)
  find_package(OpenSSL 3 REQUIRED)  # EVP SHA-256 of the corpora
  add_executable(test_real_text_validity ${CMAKE_CURRENT_SOURCE_DIR}/llama/test_real_text_validity.cpp)
  target_link_libraries(test_real_text_validity PRIVATE tracemark::llama tracemark_test_main OpenSSL::Crypto)
  target_include_directories(test_real_text_validity PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(test_real_text_validity PRIVATE
    TRACEMARK_LLAMA_VOCAB_DIR="${TRACEMARK_LLAMA_VOCAB_DIR}"
    TRACEMARK_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
  tracemark_harden(test_real_text_validity)
  add_test(NAME test_real_text_validity COMMAND test_real_text_validity)
  # The extended study of docs/VALIDITY.md: same source, run by scripts/validity_table.sh.
  add_executable(test_real_text_validity_extended ${CMAKE_CURRENT_SOURCE_DIR}/llama/test_real_text_validity.cpp)
  target_link_libraries(test_real_text_validity_extended PRIVATE tracemark::llama tracemark_test_main OpenSSL::Crypto)
  target_include_directories(test_real_text_validity_extended PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(test_real_text_validity_extended PRIVATE TRACEMARK_VALIDITY_EXTENDED=1
    TRACEMARK_LLAMA_VOCAB_DIR="${TRACEMARK_LLAMA_VOCAB_DIR}"
    TRACEMARK_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
  tracemark_harden(test_real_text_validity_extended)
  set_tests_properties(test_real_text_validity PROPERTIES LABELS "llama;validity" TIMEOUT 600)
endif()

# The watermark sampler and generation engine on the real tiny model (issue 4).
if(TRACEMARK_WITH_LLAMA)
  find_package(OpenSSL 3 REQUIRED)
  add_executable(test_sampler ${CMAKE_CURRENT_SOURCE_DIR}/llama/test_sampler.cpp)
  target_link_libraries(test_sampler PRIVATE tracemark::llama tracemark_test_main OpenSSL::Crypto llama)
  target_include_directories(test_sampler PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(test_sampler PRIVATE TRACEMARK_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
  tracemark_harden(test_sampler)
  add_test(NAME test_sampler COMMAND test_sampler)
  set_tests_properties(test_sampler PROPERTIES LABELS llama TIMEOUT 600)
endif()

# Provenance audit (issue 5, docs/AUDIT_DESIGN.md) on the real tiny model: validity of
# reading and black-box modes across keys, and the reduced distillation experiment with
# n-gram students, including the CLI over HTTP against a server started in the test.
if(TRACEMARK_WITH_LLAMA)
  find_package(OpenSSL 3 REQUIRED)
  find_package(nlohmann_json 3 REQUIRED)
  find_package(Threads REQUIRED)
  add_executable(test_audit_validity ${CMAKE_CURRENT_SOURCE_DIR}/llama/test_audit_validity.cpp)
  target_link_libraries(test_audit_validity PRIVATE tracemark::llama tracemark_test_main OpenSSL::Crypto)
  target_include_directories(test_audit_validity PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(test_audit_validity PRIVATE TRACEMARK_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
  tracemark_harden(test_audit_validity)
  add_test(NAME test_audit_validity COMMAND test_audit_validity)
  set_tests_properties(test_audit_validity PROPERTIES LABELS "llama;validity;audit" TIMEOUT 900)

  if(TARGET tracemark_cli)
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(TRACEMARK_AUDIT_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
    add_executable(test_audit_experiment ${CMAKE_CURRENT_SOURCE_DIR}/llama/test_audit_experiment.cpp)
    target_link_libraries(test_audit_experiment PRIVATE tracemark::llama tracemark_test_main OpenSSL::Crypto
      PkgConfig::TRACEMARK_AUDIT_HTTPLIB nlohmann_json::nlohmann_json Threads::Threads)
    target_include_directories(test_audit_experiment PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
    target_compile_definitions(test_audit_experiment PRIVATE
      TRACEMARK_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared"
      TRACEMARK_CLI_PATH="$<TARGET_FILE:tracemark_cli>")
    add_dependencies(test_audit_experiment tracemark_cli)
    tracemark_harden(test_audit_experiment)
    add_test(NAME test_audit_experiment COMMAND test_audit_experiment)
    set_tests_properties(test_audit_experiment PROPERTIES LABELS "llama;audit" TIMEOUT 900)

    # The HTML report of `audit --report`, checked as text and rendered by headless
    # Chromium (installed by scripts/setup.sh test; a missing browser fails the test).
    find_package(PNG REQUIRED)
    find_program(TRACEMARK_CHROMIUM NAMES chromium chromium-browser DOC "Chromium for the report rendering test")
    set(_tracemark_chromium "${TRACEMARK_CHROMIUM}")
    if(NOT TRACEMARK_CHROMIUM)
      set(_tracemark_chromium /usr/bin/chromium)
    endif()
    # A report test: the page renderer (and any sources after the label) linked in, the CLI and
    # Chromium named by path.
    function(tracemark_report_test name label)
      add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/llama/${name}.cpp
                             ${PROJECT_SOURCE_DIR}/tools/tracemark/report/html_report.cpp ${ARGN})
      target_link_libraries(${name} PRIVATE tracemark::tracemark tracemark_test_main OpenSSL::Crypto PNG::PNG
        nlohmann_json::nlohmann_json)
      target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/tools/tracemark)
      target_compile_definitions(${name} PRIVATE
        TRACEMARK_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared"
        TRACEMARK_CLI_PATH="$<TARGET_FILE:tracemark_cli>"
        TRACEMARK_CHROMIUM_PATH="${_tracemark_chromium}")
      add_dependencies(${name} tracemark_cli)
      tracemark_harden(${name})
      add_test(NAME ${name} COMMAND ${name})
      set_tests_properties(${name} PROPERTIES LABELS "llama;${label}" TIMEOUT 600)
    endfunction()
    tracemark_report_test(test_audit_report audit ${PROJECT_SOURCE_DIR}/tools/tracemark/audit/audit_report.cpp)
    # The HTML report of `detect --report`, the same way (the real demo's report).
    tracemark_report_test(test_detect_report detect)
  endif()
endif()
