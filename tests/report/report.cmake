# The HTML report: rendering, --report FILE.html through the binary, and the page opened in
# headless Chromium (pending where chromium-headless-shell is missing). Included from
# tests/tests.cmake.
add_test(NAME lua_report COMMAND migrun test --run=report WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(lua_report PROPERTIES
  ENVIRONMENT "${MR_TEST_ENV}" FIXTURES_REQUIRED "pg;tree" LABELS pg)
