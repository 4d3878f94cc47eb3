# Golden records (tests/golden/README.md): the CLI's detect, audit and /v1/detect records on
# fixed inputs must equal, byte for byte apart from added fields, what the CLI wrote before
# the evidence-core refactor. Needs bash, curl and Debian's python3 (scripts/setup.sh test
# installs them), the shared model and llama.cpp's vocabularies; missing ones fail the test.
if(TARGET tracemark_cli AND TRACEMARK_WITH_LLAMA)
  get_filename_component(_tracemark_golden_llama_prefix "${llama_DIR}/../../.." ABSOLUTE)
  add_test(NAME golden_records
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/golden/run_golden_test.sh $<TARGET_FILE:tracemark_cli>)
  set_tests_properties(golden_records PROPERTIES LABELS "golden" TIMEOUT 600
    ENVIRONMENT "TRACEMARK_GOLDEN_MODEL=${PROJECT_SOURCE_DIR}/../shared/models/stories260K.gguf;TRACEMARK_GOLDEN_SPM_VOCAB=${_tracemark_golden_llama_prefix}/share/llama-vocab/ggml-vocab-llama-spm.gguf")
endif()
