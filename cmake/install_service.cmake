# Install-time step of `cmake --install` (and of the package, which installs with
# DESTDIR): the files for running plextap as a service, placed from the prefix given at
# install time, so `--prefix /usr` puts them where systemd and logrotate read them.
#   prefix /usr (the package)  -> /usr/bin/plextap, /etc/plextap/, /etc/logrotate.d/
#   prefix /usr/local          -> /usr/local/bin/plextap, /usr/local/etc/plextap/, ...
# The unit names the binary and the config file at those places. An existing config file
# is kept: reinstalling never overwrites the settings.
# Expects PLEXTAP_SOURCE_DIR and PLEXTAP_BINARY_DIR (set by the install(CODE) before it).
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr" OR prefix STREQUAL "/")
  set(etc "/etc")
else()
  set(etc "${prefix}/etc")
endif()
if(prefix STREQUAL "/")
  set(prefix "/usr")
endif()
set(PLEXTAP_BINDIR "${prefix}/bin")
set(PLEXTAP_ETC "${etc}/plextap")
set(root "$ENV{DESTDIR}")  # file(INSTALL) adds it itself; the check below does not

configure_file("${PLEXTAP_SOURCE_DIR}/contrib/systemd/plextap.service.in"
               "${PLEXTAP_BINARY_DIR}/contrib/plextap.service" @ONLY)
file(INSTALL "${PLEXTAP_BINARY_DIR}/contrib/plextap.service"
     DESTINATION "${prefix}/lib/systemd/system")
file(INSTALL "${PLEXTAP_SOURCE_DIR}/contrib/systemd/plextap.sysusers"
     DESTINATION "${prefix}/lib/sysusers.d" RENAME plextap.conf)
file(INSTALL "${PLEXTAP_SOURCE_DIR}/contrib/logrotate/plextap"
     DESTINATION "${etc}/logrotate.d")
if(EXISTS "${root}${PLEXTAP_ETC}/plextap.toml")
  message(STATUS "Keeping: ${root}${PLEXTAP_ETC}/plextap.toml")
else()
  file(INSTALL "${PLEXTAP_SOURCE_DIR}/contrib/plextap.toml" DESTINATION "${PLEXTAP_ETC}")
endif()
