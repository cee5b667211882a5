# The watch window after a release (tests/watch/watch_spec.lua): the real binary against the
# harness cluster, windows of seconds, a load process for the failing twin. Slow (about a
# minute of windows): skipped by the sanitizer pass (ctest -LE slow). Included from
# tests/tests.cmake.
add_test(NAME lua_watch COMMAND migrun test --run=watch WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(lua_watch PROPERTIES
  ENVIRONMENT "${MR_TEST_ENV}" FIXTURES_REQUIRED "pg;tree" LABELS "pg;slow")
