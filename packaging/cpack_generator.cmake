# CPACK_PROJECT_CONFIG_FILE (cpack.cmake): cpack includes this once per
# generator, with CPACK_GENERATOR naming the one about to run, before it
# installs the project into that generator's staging tree.
if(CPACK_GENERATOR STREQUAL "RPM")
  # The RPM lists tmpfiles.d's directories (CPACK_RPM_USER_FILELIST), so its
  # staging tree needs them; the .deb's postinst makes them instead.
  set(CPACK_INSTALL_SCRIPTS ${CMAKE_CURRENT_LIST_DIR}/rpm/staging_dirs.cmake)
endif()
