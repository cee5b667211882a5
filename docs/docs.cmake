# The reference (its source: lua/migrun/docs/*.lua). Included from tests/tests.cmake.
# - man pages migrun(1) and migrun-playbook(5): scdoc text written by migrun.docs.build, turned
#   into roff by scdoc at build time, installed to share/man/man1 and man5
# - `make docs_markdown` rewrites docs/reference/ (checked in: the docs suite fails when it is
#   out of date)
# - the docs suite: the reference against the runtime, every documented example loaded (and
#   the complete ones run), the editor definitions, help from the build tree and a prefix
find_program(SCDOC scdoc)
file(GLOB MR_DOC_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/lua/migrun/docs/*.lua)
list(APPEND MR_DOC_SOURCES ${PROJECT_SOURCE_DIR}/lua/migrun/commands/init.lua)

if(SCDOC)
  set(MR_MAN_DIR ${PROJECT_BINARY_DIR}/man)
  set(MR_MAN_PAGES ${MR_MAN_DIR}/migrun.1 ${MR_MAN_DIR}/migrun-playbook.5
                   ${MR_MAN_DIR}/migrun.1.gz ${MR_MAN_DIR}/migrun-playbook.5.gz)
  # installed gzipped, as Debian's policy has man pages (-n: no name or time in the header)
  add_custom_command(OUTPUT ${MR_MAN_PAGES}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${MR_MAN_DIR}
    COMMAND migrun -e "require('migrun.docs.build').man(arg[1], arg[2])" ${MR_MAN_DIR} ${SCDOC}
    COMMAND gzip -9nkf ${MR_MAN_DIR}/migrun.1 ${MR_MAN_DIR}/migrun-playbook.5
    DEPENDS migrun ${MR_DOC_SOURCES}
    COMMENT "Writing the man pages migrun(1) and migrun-playbook(5) with scdoc"
    VERBATIM)
  add_custom_target(man ALL DEPENDS ${MR_MAN_PAGES})
  install(FILES ${MR_MAN_DIR}/migrun.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
  install(FILES ${MR_MAN_DIR}/migrun-playbook.5.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
else()
  message(WARNING "scdoc not found: no man pages are built or installed (Debian: apt-get install scdoc)")
endif()

add_custom_target(docs_markdown
  COMMAND migrun -e "require('migrun.docs.build').markdown(arg[1])" ${PROJECT_SOURCE_DIR}/docs/reference
  DEPENDS migrun
  COMMENT "Writing docs/reference/ from lua/migrun/docs"
  VERBATIM)

add_test(NAME lua_docs COMMAND migrun test --run=docs WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(lua_docs PROPERTIES
  ENVIRONMENT "${MR_TEST_ENV}" FIXTURES_REQUIRED "pg;tree" LABELS pg)
