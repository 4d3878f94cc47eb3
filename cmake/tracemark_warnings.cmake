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
