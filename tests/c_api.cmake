# The C API is tested from a real C99 translation unit.
add_executable(test_c_api c_api/test_c_api.c)
set_target_properties(test_c_api PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF
                                            LINKER_LANGUAGE CXX)
target_link_libraries(test_c_api PRIVATE tracemark::tracemark)
target_compile_options(test_c_api PRIVATE -Wall -Wextra -Wpedantic $<$<BOOL:${TRACEMARK_WERROR}>:-Werror>)
add_test(NAME test_c_api COMMAND test_c_api)
