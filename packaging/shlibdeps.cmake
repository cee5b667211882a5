# packaging/shlibdeps.cmake: run by cpack (CPACK_PROJECT_CONFIG_FILE) before it builds a .deb.
# The packages of the shared libraries bin/migrun links, as dpkg-shlibdeps names them (with
# their minimum versions), go in front of the Depends that packaging/package.cmake lists.
# CPack's CPACK_DEBIAN_PACKAGE_SHLIBDEPS does the same after running `file` on every packaged
# file, two processes each: with ~250 files that took minutes on a busy 2-core machine, and
# migrun has one ELF file.
if(CPACK_GENERATOR STREQUAL "DEB")
  find_program(MR_SHLIBDEPS dpkg-shlibdeps)
  if(NOT MR_SHLIBDEPS)
    message(FATAL_ERROR "dpkg-shlibdeps not found: it names the packages of the libraries migrun "
                        "links (Debian: apt-get install dpkg-dev)")
  endif()
  set(MR_SHLIBDEPS_DIR ${CPACK_PACKAGE_DIRECTORY}/_CPack_Packages/shlibdeps)
  file(MAKE_DIRECTORY ${MR_SHLIBDEPS_DIR}/debian)
  file(WRITE ${MR_SHLIBDEPS_DIR}/debian/control "")      # dpkg-shlibdeps wants one, even empty
  execute_process(COMMAND ${MR_SHLIBDEPS} -O ${CPACK_MIGRUN_BINARY}
    WORKING_DIRECTORY ${MR_SHLIBDEPS_DIR}
    OUTPUT_VARIABLE MR_SHLIBS ERROR_VARIABLE MR_SHLIBS_ERR RESULT_VARIABLE MR_SHLIBS_RC
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  file(REMOVE_RECURSE ${MR_SHLIBDEPS_DIR})
  if(NOT MR_SHLIBS_RC EQUAL 0 OR NOT MR_SHLIBS MATCHES "shlibs:Depends=([^\n]+)")
    message(FATAL_ERROR "dpkg-shlibdeps failed on ${CPACK_MIGRUN_BINARY}: ${MR_SHLIBS_ERR}")
  endif()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "${CMAKE_MATCH_1}, ${CPACK_DEBIAN_PACKAGE_DEPENDS}")
endif()
