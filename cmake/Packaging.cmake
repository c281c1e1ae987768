# Install rules and the Debian package. Included from the top-level CMakeLists.txt once every target exists.
#
#   cmake --install build [--prefix /usr]        binaries under the prefix (default /usr/local), systemd units,
#                                                 sysusers entry and configs where systemd and the units look
#   cmake --build build --target package          build/sentinel_<version>_<arch>.deb (CPack, prefix /usr)
#
# Binaries, README and the units' ExecStart= follow the install prefix; the units, the sysusers entry and the
# configs go to absolute system paths, because systemd only reads its own directories and the units name
# /etc/sentinel/*.conf. The units are filled in at install time (cmake/InstallSystemFiles.cmake), not at configure
# time: `cmake --install --prefix X` and CPack (which installs with prefix /usr) both get units that name the
# binaries they actually installed. The configs are installed only where none exists yet (an operator's edits
# survive a second `cmake --install`; in the package they are conffiles).
include(GNUInstallDirs)

pkg_get_variable(SENTINEL_PC_SYSTEMD_UNIT_DIR systemd systemdsystemunitdir)
pkg_get_variable(SENTINEL_PC_SYSUSERS_DIR systemd sysusersdir)
if(NOT SENTINEL_PC_SYSTEMD_UNIT_DIR)
  set(SENTINEL_PC_SYSTEMD_UNIT_DIR /lib/systemd/system)
endif()
if(NOT SENTINEL_PC_SYSUSERS_DIR)
  set(SENTINEL_PC_SYSUSERS_DIR /usr/lib/sysusers.d)
endif()
set(SENTINEL_SYSTEMD_UNIT_DIR "${SENTINEL_PC_SYSTEMD_UNIT_DIR}" CACHE PATH
    "Where the systemd units are installed (default: pkg-config systemd's systemdsystemunitdir)")
set(SENTINEL_SYSUSERS_DIR "${SENTINEL_PC_SYSUSERS_DIR}" CACHE PATH
    "Where the sysusers.d entry is installed (default: pkg-config systemd's sysusersdir)")
set(SENTINEL_CONFIG_DIR /etc/sentinel CACHE PATH "Where agent.conf and collector.conf are installed")

# --- Binaries: the daemons in sbin, the operator's CLI in bin -------------------------------------------------
install(TARGETS sentinel-agent RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS sentinelctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET sentinel-collector)
  install(TARGETS sentinel-collector RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
endif()
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# --- systemd units (filled in at install time), sysusers entry, configs ----------------------------------------
set(SENTINEL_UNITS sentinel-agent.service)
set(SENTINEL_CONFIGS agent.conf)
if(TARGET sentinel-collector)
  list(APPEND SENTINEL_UNITS sentinel-collector.service)
  list(APPEND SENTINEL_CONFIGS collector.conf)
endif()
install(CODE "
  set(SENTINEL_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
  set(SENTINEL_UNIT_WORK_DIR \"${CMAKE_CURRENT_BINARY_DIR}/install-units\")
  set(SENTINEL_UNITS \"${SENTINEL_UNITS}\")
  set(SENTINEL_CONFIGS \"${SENTINEL_CONFIGS}\")
  set(SENTINEL_SYSTEMD_UNIT_DIR \"${SENTINEL_SYSTEMD_UNIT_DIR}\")
  set(SENTINEL_CONFIG_DIR \"${SENTINEL_CONFIG_DIR}\")
  set(SENTINEL_SBIN_SUBDIR \"${CMAKE_INSTALL_SBINDIR}\")
  set(SENTINEL_DOC_SUBDIR \"${CMAKE_INSTALL_DOCDIR}\")
")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/InstallSystemFiles.cmake)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/sentinel-agent.socket DESTINATION ${SENTINEL_SYSTEMD_UNIT_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/systemd/sentinel.sysusers DESTINATION ${SENTINEL_SYSUSERS_DIR}
        RENAME sentinel.conf)

# --- The Debian package ---------------------------------------------------------------------------------------
set(SENTINEL_PACKAGE_MAINTAINER "Sentinel maintainers <sentinel@localhost>" CACHE STRING
    "The Maintainer field of the .deb")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sentinel)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${SENTINEL_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "read-only forensics and salvage of Longhorn replicas")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # sentinel_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The Description's first line is the summary above; CPack indents these lines and turns the empty one into " .".
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "sentinel-agent scans a node's Longhorn replica directories (read-only, always), reports their
inventory to sentinel-collector, and answers sentinelctl on a local socket. sentinel-collector keeps
the fleet's inventories and plans salvage. sentinelctl scans, compares, plans and exports offline too.

Installing this package enables and starts nothing: systemctl enable --now sentinel-agent.")
# Depends: from the binaries' shared libraries (dpkg-shlibdeps, in dpkg-dev).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# systemd runs the units and creates the users (systemd-sysusers); the binaries work without it (containers).
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS systemd)
set(SENTINEL_DEB_CONTROL_DIR ${CMAKE_CURRENT_BINARY_DIR}/deb-control)
foreach(script postinst prerm postrm conffiles)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/deb/${script}.in ${SENTINEL_DEB_CONTROL_DIR}/${script} @ONLY)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${SENTINEL_DEB_CONTROL_DIR}/postinst ${SENTINEL_DEB_CONTROL_DIR}/prerm ${SENTINEL_DEB_CONTROL_DIR}/postrm
    ${SENTINEL_DEB_CONTROL_DIR}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
