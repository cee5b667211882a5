# packaging/package.cmake: `cpack -G DEB` (or `cmake --build build --target package`) turns
# what `cmake --install` puts under the prefix into a Debian package for Debian 12:
#   /usr/bin/migrun, /usr/share/migrun/lua, the bash, zsh and fish completions, the man pages
#   (docs/docs.cmake), README, docs/ and examples/ in /usr/share/doc/migrun.
# Depends: the packages of the shared libraries the binary links (dpkg-shlibdeps, run by
# shlibdeps.cmake: libc6, libpq5, liblua5.4-0, libreadline8, libssl3; libpg_query is linked
# statically), libcurl4 (opened with dlopen on the first HTTP request), the Lua modules the Lua layer requires (lfs, cjson) and pg_dump and
# pg_restore. Recommends what --sandbox (initdb, postgres), expect.pgtap and `migrun test` need.
# scripts/package-test.sh builds it, installs it and runs the quick start and specs with it.

# one version: the package's is the project's, and the binary prints MR_VERSION (engine/mr.h)
file(STRINGS ${PROJECT_SOURCE_DIR}/engine/mr.h MR_VERSION_LINE REGEX "^#define MR_VERSION ")
string(REGEX MATCH "\"([^\"]*)\"" _ "${MR_VERSION_LINE}")
if(NOT CMAKE_MATCH_1 STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "engine/mr.h says MR_VERSION \"${CMAKE_MATCH_1}\" but CMakeLists.txt says "
                      "project(migrun VERSION ${PROJECT_VERSION}): make them the same")
endif()

set(MIGRUN_PACKAGE_MAINTAINER "migrun developers <migrun@localhost>"
    CACHE STRING "the Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME migrun)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${MIGRUN_PACKAGE_MAINTAINER})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "run a PostgreSQL production migration as a program")
set(CPACK_PACKAGE_DESCRIPTION "migrun turns a migration runbook into a Lua playbook of phases, \
expectations, time budgets and rollbacks. It takes a verified backup, runs each phase in one \
transaction with its checks before COMMIT, retries on lock timeouts instead of queueing \
production traffic, records every step in a ledger inside the database, rolls back what \
failed, lints the SQL for dangerous DDL and writes a report. Rehearsals run on a throwaway \
clone; --sandbox runs on a throwaway local cluster (needs the postgresql-15 package).")
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)               # migrun_0.1.0-1_amd64.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${MIGRUN_PACKAGE_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_CURRENT_LIST_DIR}/shlibdeps.cmake)   # the libraries' packages
set(CPACK_MIGRUN_BINARY ${CMAKE_RUNTIME_OUTPUT_DIRECTORY}/migrun)
# pg_dump and pg_restore: migrun picks the newest installed that is at least the server's version
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libcurl4, lua-filesystem, lua-cjson, postgresql-client-15 | postgresql-client (>= 15)")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql-15, postgresql-15-pgtap, lua-busted")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bash-completion")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# `make package_source`: the tracked tree, without build directories
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "/backups/")

include(CPack)
