find_package(nlohmann_json 3 REQUIRED)
target_link_libraries(test_spec_vectors PRIVATE nlohmann_json::nlohmann_json)
