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
