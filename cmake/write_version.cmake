# Writes the build's version header: the project version, given by the caller, and the
# commit from `git describe --always --dirty`, or "unknown" outside a git checkout (a
# source tarball, a package build). Runs at every build, and rewrites the header only when
# its text changes, so an unchanged checkout recompiles nothing.
#
# cmake -DSOURCE_DIR=… -DOUTPUT=…/version_info.hpp -DVERSION=0.14.0 -P write_version.cmake
set(commit "unknown")
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND "${GIT_EXECUTABLE}" describe --always --dirty
                  WORKING_DIRECTORY "${SOURCE_DIR}"
                  OUTPUT_VARIABLE described OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE failed ERROR_QUIET)
  if(NOT failed AND described)
    set(commit "${described}")
  endif()
endif()
set(text "// Generated at build time by cmake/write_version.cmake: do not edit.
#pragma once
#define PLEXTAP_VERSION \"${VERSION}\"
#define PLEXTAP_COMMIT \"${commit}\"
")
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUTPUT}" "${text}")
endif()
