# migrun import: the importers, psql variables and the imported playbooks on the server
# (run, rollback, --adopt against each tool's history table); real projects' folders only
# with MIGRUN_IMPORT_REAL set (pending otherwise). Included from tests/tests.cmake.
add_test(NAME lua_import COMMAND migrun test --run=import WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(lua_import PROPERTIES
  ENVIRONMENT "${MR_TEST_ENV}" FIXTURES_REQUIRED "pg;tree" LABELS pg)
