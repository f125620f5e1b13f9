# CPack settings for the twincache .deb and .rpm; included by
# packaging/CMakeLists.txt after every install() rule of the project exists.
# Reasons for the choices: packaging/README.md.

set(CPACK_GENERATOR DEB RPM)
set(CPACK_PACKAGE_NAME twincache)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "twincache")
set(TWINCACHE_PACKAGE_MAINTAINER "twincache maintainers <maintainers@twincache.example.org>"
    CACHE STRING "Maintainer field of the .deb (name <email>)")
set(CPACK_PACKAGE_CONTACT ${TWINCACHE_PACKAGE_MAINTAINER})
set(TWINCACHE_PACKAGE_URL "https://twincache.example.org/" CACHE STRING
    "Homepage of the .deb and URL of the .rpm")
set(CPACK_PACKAGE_HOMEPAGE_URL ${TWINCACHE_PACKAGE_URL})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "memcached-compatible cache that replicates to a twin")
set(CPACK_PACKAGE_DESCRIPTION
    "twincached speaks the memcached text and meta protocol and replicates every
write to a second node (its twin), so either node can serve the cache.
keepalived moves a virtual IP between the two: twincache-check is its track
script and twincache-notify its notify hook, and twincache-keepalived-config
renders a node's keepalived.conf; twincache-twemproxy-config renders a
nutcracker (twemproxy) pool that shards keys over several pairs. The package
runs twincached as a systemd service under the twincache user, configured in
/etc/twincache/twincached.conf.")

# Everything under /usr, plus absolute destinations (/etc). Not relocatable.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_RELOCATABLE OFF)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS ${CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS})

# Debian. Native version (no Debian revision): the project ships its own packaging.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${TWINCACHE_PACKAGE_MAINTAINER})
# dpkg-shlibdeps adds libc6, libstdc++6, libssl3, libsystemd0, ... from the binaries.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# adduser: the postinst's fallback when systemd-sysusers is absent; python3:
# twincache-keepalived-config.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, python3")
# Recommends, not Depends: twincached is a useful cache without a VIP, and
# apt installs Recommends by default, so `apt install ./twincache_*.deb` does
# bring keepalived in; --no-install-recommends (containers, a single cache)
# does not. twincache-check/-notify are only run by keepalived. Likewise
# libsasl2 and its PLAIN/CRAM-MD5 plugins: twincached loads libsasl2 only
# with -S (dlopen, core/auth/sasl.h), so no library dependency says it.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "keepalived, libsasl2-2, libsasl2-modules")
# Suggests: nutcracker (twemproxy) shards keys over several pairs with the pool
# twincache-twemproxy-config renders; one pair needs no proxy.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "nutcracker")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_SOURCE_DIR}/deb/conffiles
    ${CMAKE_CURRENT_SOURCE_DIR}/deb/postinst
    ${CMAKE_CURRENT_SOURCE_DIR}/deb/prerm
    ${CMAKE_CURRENT_SOURCE_DIR}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# RPM, for the targets in rpm/targets.toml (EL 9, Fedora 38+; packaging/README.md,
# "RPM targets"). Release 1; License from packaging/copyright.
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_RELEASE 1)
set(CPACK_RPM_PACKAGE_LICENSE MIT)
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
set(CPACK_RPM_PACKAGE_RELOCATABLE OFF)
# URL from CPACK_PACKAGE_HOMEPAGE_URL. RPM summaries start with a capital
# (rpmlint's summary-not-capitalized); Debian's synopsis stays as it is.
set(CPACK_RPM_PACKAGE_SUMMARY "Memcached-compatible cache that replicates to a twin")
set(CPACK_RPM_PACKAGE_DESCRIPTION ${CPACK_PACKAGE_DESCRIPTION})
# rpmbuild's automatic requirements (the binaries' libraries, /bin/sh,
# /usr/bin/python3) plus the packages named here: logrotate reads
# /etc/logrotate.d/twincache (rpmlint's missing-dependency-to-logrotate).
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
set(CPACK_RPM_PACKAGE_REQUIRES "python3, logrotate")
# CPack has no variable for the Packager and Recommends tags; the spec's
# preamble takes them like any tag. Recommends as the .deb's: keepalived, and
# for -S libsasl2.so.3 (cyrus-sasl-lib) and its PLAIN plugin
# (cyrus-sasl-plain). No /usr/lib/.build-id links: there is no debuginfo
# package to pair them with.
set(CPACK_RPM_SPEC_MORE_DEFINE
    "Packager: ${TWINCACHE_PACKAGE_MAINTAINER}
Recommends: keepalived
Recommends: cyrus-sasl-lib
Recommends: cyrus-sasl-plain
%define _build_id_links none")
# The scriptlets (rpm/; packaging/README.md, "Maintainer scripts"). pre inlines
# the sysusers.d file, so it is made here.
file(READ ${PROJECT_SOURCE_DIR}/systemd/sysusers.d/twincache.conf TWINCACHE_SYSUSERS)
string(STRIP "${TWINCACHE_SYSUSERS}" TWINCACHE_SYSUSERS)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/systemd/sysusers.d/twincache.conf)
configure_file(rpm/pre.in ${CMAKE_CURRENT_BINARY_DIR}/rpm/pre @ONLY)
set(CPACK_RPM_PRE_INSTALL_SCRIPT_FILE ${CMAKE_CURRENT_BINARY_DIR}/rpm/pre)
set(CPACK_RPM_POST_INSTALL_SCRIPT_FILE ${CMAKE_CURRENT_SOURCE_DIR}/rpm/post)
set(CPACK_RPM_PRE_UNINSTALL_SCRIPT_FILE ${CMAKE_CURRENT_SOURCE_DIR}/rpm/preun)
set(CPACK_RPM_POST_UNINSTALL_SCRIPT_FILE ${CMAKE_CURRENT_SOURCE_DIR}/rpm/postun)
set(CPACK_RPM_POST_TRANS_SCRIPT_FILE ${CMAKE_CURRENT_SOURCE_DIR}/rpm/posttrans)
# tmpfiles.d's directories, listed with its owners and modes (the Debian
# postinst makes them instead): /var/log/twincache belongs to the .rpm;
# /run/twincache-vrrp is %ghost (/run is a tmpfs: the file list records it,
# tmpfiles makes it). cpack_generator.cmake creates them in the RPM's
# staging tree only.
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_CURRENT_SOURCE_DIR}/cpack_generator.cmake)
set(CPACK_RPM_USER_FILELIST
    "%config(noreplace) /etc/twincache/twincached.conf"
    "%config(noreplace) /etc/logrotate.d/twincache"
    "%dir %attr(0750,root,adm) /var/log/twincache"
    "%ghost %dir %attr(0755,root,root) /run/twincache-vrrp"
    "%exclude /usr/share/lintian/overrides/twincache")
# %changelog from packaging/changelog (Debian's format, newest first as RPM's):
#   * Sat Nov 21 2026 NAME <EMAIL> - VERSION-RELEASE
#   - the change, continued on lines indented by two
# '%' doubled: rpmbuild expands macros in %changelog.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/changelog)
file(READ ${CMAKE_CURRENT_SOURCE_DIR}/changelog debian_changelog)
string(REPLACE ";" "<semicolon>" debian_changelog "${debian_changelog}")
string(REPLACE "\n" ";" debian_changelog_lines "${debian_changelog}")
set(rpm_changelog "")
foreach(line IN LISTS debian_changelog_lines)
  if(line MATCHES "^[a-z0-9.+-]+ \\(([^)]+)\\) ")
    set(entry_version ${CMAKE_MATCH_1})
    set(entry_changes "")
  elseif(line MATCHES "^  \\* (.*)$")
    string(APPEND entry_changes "- ${CMAKE_MATCH_1}\n")
  elseif(line MATCHES "^    (.*)$")
    string(APPEND entry_changes "  ${CMAKE_MATCH_1}\n")
  elseif(line MATCHES "^ -- (.+)  ([A-Z][a-z][a-z]), ([0-9]+) ([A-Z][a-z][a-z]) ([0-9]+) ")
    string(APPEND rpm_changelog "* ${CMAKE_MATCH_2} ${CMAKE_MATCH_4} ${CMAKE_MATCH_3} ${CMAKE_MATCH_5} "
                                "${CMAKE_MATCH_1} - ${entry_version}-${CPACK_RPM_PACKAGE_RELEASE}\n${entry_changes}\n")
  endif()
endforeach()
string(REPLACE "<semicolon>" ";" rpm_changelog "${rpm_changelog}")
string(REPLACE "%" "%%" rpm_changelog "${rpm_changelog}")
if(rpm_changelog STREQUAL "")
  message(FATAL_ERROR "packaging/changelog: no entry in Debian's format")
endif()
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/rpm/changelog "${rpm_changelog}")
set(CPACK_RPM_CHANGELOG_FILE ${CMAKE_CURRENT_BINARY_DIR}/rpm/changelog)
# Directories other packages own (filesystem, systemd, man-db, logrotate):
# listing them would make twincache co-own them.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /usr/sbin
    /usr/libexec
    /usr/lib/systemd
    /usr/lib/systemd/system
    /usr/lib/sysusers.d
    /usr/lib/tmpfiles.d
    /usr/share/man
    /usr/share/man/man8
    /usr/share/lintian
    /usr/share/lintian/overrides
    /etc/logrotate.d
    /run
    /var
    /var/log)

include(CPack)
