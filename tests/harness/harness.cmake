# Test helpers of the harness, and the suites that need them (included at the end of
# tests/tests.cmake). fake_app: the fake application the http and expect.http specs talk to
# (tests/harness/fake_app.c; tests/harness/fakeapp.lua starts it, found via MIGRUN_FAKE_APP).
add_executable(fake_app tests/harness/fake_app.c)
set_target_properties(fake_app PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)

# the http module and expect.http against the fake application: no PostgreSQL needed
add_test(NAME lua_http COMMAND migrun test --run=http WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(lua_http PROPERTIES ENVIRONMENT "${MR_TEST_ENV}" FIXTURES_REQUIRED tree)

# the pure-C part of http.c: URL redaction
add_executable(test_http tests/c/test_http.c)
target_link_libraries(test_http PRIVATE migrun_core)
set_target_properties(test_http PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
add_test(NAME c_http COMMAND test_http)
