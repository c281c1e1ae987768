# Runs at install time (cmake --install, cpack), from the install rules of cmake/Packaging.cmake, which set
# SENTINEL_SOURCE_DIR, SENTINEL_UNIT_WORK_DIR, SENTINEL_UNITS, SENTINEL_CONFIGS, SENTINEL_SYSTEMD_UNIT_DIR,
# SENTINEL_CONFIG_DIR, SENTINEL_SBIN_SUBDIR and SENTINEL_DOC_SUBDIR.
#
# Units: fills each systemd/<unit>.in with the prefix being installed to (CMAKE_INSTALL_PREFIX as the install
# sees it: --prefix, or /usr under CPack), so ExecStart= names the binary this very install put in place.
# Configs: installed only where none exists yet, so re-running `cmake --install` never overwrites an operator's
# /etc/sentinel/*.conf (in the package they are conffiles, which dpkg protects the same way).
# Both are installed as install(FILES) would: DESTDIR honoured, files recorded in the install manifest.
foreach(var SENTINEL_SBIN_SUBDIR SENTINEL_DOC_SUBDIR)
  if(IS_ABSOLUTE "${${var}}")
    set(${var}_FULL "${${var}}")
  else()
    set(${var}_FULL "${CMAKE_INSTALL_PREFIX}/${${var}}")
  endif()
endforeach()
set(SENTINEL_SBIN_DIR "${SENTINEL_SBIN_SUBDIR_FULL}")
set(SENTINEL_DOC_DIR "${SENTINEL_DOC_SUBDIR_FULL}")

# A work directory of this install's own: several installs may run at once from one build tree (the tests do).
string(RANDOM LENGTH 16 work_key)
set(work_dir "${SENTINEL_UNIT_WORK_DIR}/${work_key}")
foreach(unit IN LISTS SENTINEL_UNITS)
  configure_file("${SENTINEL_SOURCE_DIR}/systemd/${unit}.in" "${work_dir}/${unit}" @ONLY)
  list(APPEND CMAKE_ABSOLUTE_DESTINATION_FILES "${SENTINEL_SYSTEMD_UNIT_DIR}/${unit}")
  file(INSTALL DESTINATION "${SENTINEL_SYSTEMD_UNIT_DIR}" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES "${work_dir}/${unit}")
endforeach()
file(REMOVE_RECURSE "${work_dir}")

foreach(config IN LISTS SENTINEL_CONFIGS)
  if(EXISTS "$ENV{DESTDIR}${SENTINEL_CONFIG_DIR}/${config}")
    message(STATUS "Keeping: $ENV{DESTDIR}${SENTINEL_CONFIG_DIR}/${config} (the shipped version: "
                   "${SENTINEL_SOURCE_DIR}/systemd/${config})")
    continue()
  endif()
  list(APPEND CMAKE_ABSOLUTE_DESTINATION_FILES "${SENTINEL_CONFIG_DIR}/${config}")
  file(INSTALL DESTINATION "${SENTINEL_CONFIG_DIR}" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES "${SENTINEL_SOURCE_DIR}/systemd/${config}")
endforeach()
