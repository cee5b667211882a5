# migrun VERB --fleet: waves, the stop after a failure, unreachable and locked targets, reruns,
# Ctrl-C and the status table, across the harness cluster and a second sandbox cluster each spec
# starts. Slow (many child runs): skipped by the sanitizer pass. Included from tests/tests.cmake.
add_test(NAME lua_fleet COMMAND migrun test --run=fleet WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(lua_fleet PROPERTIES
  ENVIRONMENT "${MR_TEST_ENV}" FIXTURES_REQUIRED "pg;tree" LABELS "pg;slow")
