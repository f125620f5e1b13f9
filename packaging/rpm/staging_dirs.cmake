# CPACK_INSTALL_SCRIPTS of the RPM generator (cpack_generator.cmake): runs
# with DESTDIR set to the RPM's staging tree, for the directories of
# tmpfiles.d/twincache.conf the .rpm lists: /var/log/twincache (owned) and
# /run/twincache-vrrp (%ghost: on tmpfs, recreated at boot). Owner and mode
# come from the spec's %attr, as tmpfiles.d has them.
file(MAKE_DIRECTORY "$ENV{DESTDIR}/var/log/twincache" "$ENV{DESTDIR}/run/twincache-vrrp")
