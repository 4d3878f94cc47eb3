# data/evidence.schema.json against real records: tests/evidence_schema/validate_records.py
# runs the CLI (detect on token ids and text, merge, audit), adds the committed golden records,
# and requires every record to validate and damaged records not to. Needs Debian's
# /usr/bin/python3 with python3-jsonschema (scripts/setup.sh test installs it) and, for the
# text cases, the shared stories260K model; anything missing fails the test.
if(TARGET tracemark_cli)
  set(_tracemark_schema_args
    --cli $<TARGET_FILE:tracemark_cli>
    --schema ${PROJECT_SOURCE_DIR}/data/evidence.schema.json
    --golden ${CMAKE_CURRENT_LIST_DIR}/golden)
  if(TARGET tracemark::llama)
    list(APPEND _tracemark_schema_args --model ${PROJECT_SOURCE_DIR}/../shared/models/stories260K.gguf)
  else()
    list(APPEND _tracemark_schema_args --no-text)
  endif()
  add_test(NAME evidence_schema
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/evidence_schema/validate_records.py ${_tracemark_schema_args})
  set_tests_properties(evidence_schema PROPERTIES TIMEOUT 120)
endif()
