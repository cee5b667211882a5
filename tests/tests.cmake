# ctest: C unit tests, then busted suites inside migrun's VM, with one sandbox PostgreSQL
# cluster as a fixture (pg_up starts it, pg_down removes it).

foreach(t url sha256 proc backup)
  add_executable(test_${t} tests/c/test_${t}.c)
  target_link_libraries(test_${t} PRIVATE migrun_core)
  set_target_properties(test_${t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  add_test(NAME c_${t} COMMAND test_${t})
endforeach()

set(MR_PGENV ${PROJECT_BINARY_DIR}/pgtest.env)
set(MR_TEST_ENV
  MIGRUN_BIN=$<TARGET_FILE:migrun>
  MIGRUN_TEST_PGENV=${MR_PGENV}
  MIGRUN_SOURCE_DIR=${PROJECT_SOURCE_DIR}
  MIGRUN_FAKE_APP=$<TARGET_FILE:fake_app>
  NO_COLOR=1)

add_test(NAME pg_up COMMAND migrun sandbox start --env-file ${MR_PGENV})
set_tests_properties(pg_up PROPERTIES FIXTURES_SETUP pg)
add_test(NAME pg_down COMMAND migrun sandbox stop --env-file ${MR_PGENV})
set_tests_properties(pg_down PROPERTIES FIXTURES_CLEANUP pg)

# the suites leave nothing behind in the source tree: listed before, compared after
add_test(NAME tree_before COMMAND sh ${PROJECT_SOURCE_DIR}/tests/harness/tree.sh save
         ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/tree_before.txt)
set_tests_properties(tree_before PROPERTIES FIXTURES_SETUP tree)
add_test(NAME tree_after COMMAND sh ${PROJECT_SOURCE_DIR}/tests/harness/tree.sh check
         ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/tree_before.txt)
set_tests_properties(tree_after PROPERTIES FIXTURES_CLEANUP tree)

add_test(NAME lua_unit COMMAND migrun test --run=lua WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(lua_unit PROPERTIES ENVIRONMENT "${MR_TEST_ENV}" FIXTURES_REQUIRED tree)

# the linter: rules, context, renderers and the parser binding; then against the server
add_test(NAME lint_unit COMMAND migrun test --run=lint WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(lint_unit PROPERTIES ENVIRONMENT "${MR_TEST_ENV}" FIXTURES_REQUIRED tree)
add_test(NAME lint_pg COMMAND migrun test --run=lint_pg WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(lint_pg PROPERTIES
  ENVIRONMENT "${MR_TEST_ENV}" FIXTURES_REQUIRED "pg;tree" LABELS pg)

foreach(suite pg cli seeds)
  add_test(NAME lua_${suite} COMMAND migrun test --run=${suite} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(lua_${suite} PROPERTIES
    ENVIRONMENT "${MR_TEST_ENV}" FIXTURES_REQUIRED "pg;tree" LABELS pg)
endforeach()

# real faults (restarts, stopped backends, kill -9, a full disk): slow, skipped by the
# sanitizer pass (ctest -LE slow)
add_test(NAME lua_faults COMMAND migrun test --run=faults WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(lua_faults PROPERTIES
  ENVIRONMENT "${MR_TEST_ENV}" FIXTURES_REQUIRED "pg;tree" LABELS "pg;slow")

# the repository's own playbooks and examples pass `migrun lint` (allowed findings carry a reason)
file(GLOB MR_PLAYBOOKS RELATIVE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/playbooks/*.lua
     ${PROJECT_SOURCE_DIR}/examples/*/playbook.lua)
add_test(NAME lint_playbooks COMMAND migrun lint ${MR_PLAYBOOKS} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(lint_playbooks PROPERTIES ENVIRONMENT "NO_COLOR=1")

add_test(NAME luacheck COMMAND luacheck --no-color -q lua tests playbooks examples completions
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
include(tests/harness/harness.cmake)

include(tests/import/import.cmake)
include(tests/report/report.cmake)
include(tests/fleet/fleet.cmake)
include(tests/watch/watch.cmake)
include(docs/docs.cmake)
