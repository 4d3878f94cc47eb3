# Per-target warnings and sanitizers; applied with tracemark_harden(<target>).
function(tracemark_harden target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE
      -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
      $<$<BOOL:${TRACEMARK_WERROR}>:-Werror>)
  endif()
endfunction()

if(TRACEMARK_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# ThreadSanitizer: every data race in our code, in the library's shared objects (one
# watermarker or detector used by many threads), detect's worker pool and the server's
# HTTP and model workers. llama.cpp stays uninstrumented (prebuilt): races inside it are
# not seen, and we run it with one ggml thread.
# -Wno-tsan: GCC warns that TSan does not model std::atomic_thread_fence, which the green
# cache's seqlock uses (lib/src/green_cache.cpp). Every access there is atomic, so TSan
# still checks that nothing races; the fences' ordering it cannot check is checked by
# test_green_cache (every hit compared with the PRF, from 4 threads).
if(TRACEMARK_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  add_link_options(-fsanitize=thread)
endif()
