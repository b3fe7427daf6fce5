# package.cmake — install layout of the documentation and the Debian package (CPack).
# Included by the top-level CMakeLists.txt after every target exists.
#
#   cmake --install build                      # files only (binaries, unit, conf, docs, man)
#   cd build && cpack -G DEB                   # mqbridge_<version>_<arch>.deb
#
# The package installs under /usr with the configuration in /etc/mqbridge (a conffile)
# and the unit in /lib/systemd/system whatever CMAKE_INSTALL_PREFIX the build tree has:
# CPack installs with the prefix /usr, and the two paths below are chosen at install
# time (prefix /usr: /etc and /lib, as GNUInstallDirs does; otherwise under the prefix).

set(MQB_PKG_DIR ${CMAKE_CURRENT_LIST_DIR}/debian)

# --- configuration file: the example, with the store where the unit expects it --------
file(READ ${CMAKE_SOURCE_DIR}/conf/mqbridge.conf _conf)
string(REPLACE "data_dir = \"./_data\";" "data_dir = \"/var/lib/mqbridge\";" _pkgconf "${_conf}")
if(_pkgconf STREQUAL _conf)
  message(FATAL_ERROR "package.cmake: conf/mqbridge.conf has no 'data_dir = \"./_data\";' "
                      "line to point at /var/lib/mqbridge")
endif()
file(WRITE ${CMAKE_BINARY_DIR}/packaging/mqbridge.conf "${_pkgconf}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/conf/mqbridge.conf)

# Install-time choice of /etc and /lib for the prefix /usr (see above).
install(CODE "
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(_etc \"/etc\")
    set(_unit \"/lib/systemd/system\")
  else()
    set(_etc \"\${CMAKE_INSTALL_PREFIX}/etc\")
    set(_unit \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
  endif()
  if(IS_ABSOLUTE \"${CMAKE_INSTALL_SYSCONFDIR}\")
    set(_etc \"${CMAKE_INSTALL_SYSCONFDIR}\")
  endif()
  file(INSTALL DESTINATION \"\${_etc}/mqbridge\" TYPE FILE
       FILES \"${CMAKE_BINARY_DIR}/packaging/mqbridge.conf\")
  file(INSTALL DESTINATION \"\${_unit}\" TYPE FILE
       FILES \"${CMAKE_SOURCE_DIR}/systemd/mqbridged.service\")
")

# --- man pages: (8) and (1) by hand, (5) generated from docs/CONFIG.md's reference ----
find_program(MQB_PYTHON3 python3 REQUIRED)
find_program(MQB_GZIP gzip REQUIRED)
set(MQB_MAN_OUT ${CMAKE_BINARY_DIR}/docs/man)
add_custom_command(OUTPUT ${MQB_MAN_OUT}/mqbridge.conf.5
  COMMAND ${CMAKE_COMMAND} -E make_directory ${MQB_MAN_OUT}
  COMMAND ${MQB_PYTHON3} ${CMAKE_SOURCE_DIR}/docs/man/conf-keys.py
          ${CMAKE_SOURCE_DIR}/docs/man/mqbridge.conf.5.in ${CMAKE_SOURCE_DIR}/docs/CONFIG.md
          ${PROJECT_VERSION} ${MQB_MAN_OUT}/mqbridge.conf.5
  DEPENDS ${CMAKE_SOURCE_DIR}/docs/man/conf-keys.py ${CMAKE_SOURCE_DIR}/docs/man/mqbridge.conf.5.in
          ${CMAKE_SOURCE_DIR}/docs/CONFIG.md
  COMMENT "Generating mqbridge.conf(5) from docs/CONFIG.md")
set(_gz)
foreach(page mqbridged.8 mqbridge.1 mqbridge.conf.5)
  if(page STREQUAL "mqbridge.conf.5")
    set(_src ${MQB_MAN_OUT}/${page})
  else()
    set(_src ${CMAKE_SOURCE_DIR}/docs/man/${page})
  endif()
  # gzip -n: no name or time stamp in the archive (reproducible; Debian wants it)
  add_custom_command(OUTPUT ${MQB_MAN_OUT}/${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${MQB_MAN_OUT}
    COMMAND ${MQB_GZIP} -9n -c ${_src} > ${MQB_MAN_OUT}/${page}.gz
    DEPENDS ${_src} VERBATIM)
  list(APPEND _gz ${MQB_MAN_OUT}/${page}.gz)
  string(REGEX REPLACE ".*\\." "" _sec ${page})
  install(FILES ${MQB_MAN_OUT}/${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${_sec})
endforeach()
add_custom_target(man ALL DEPENDS ${_gz})

# --- documentation, examples, the Grafana dashboard --------------------------------------
file(GLOB _docs ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES README.md ${_docs} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY conf/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES conf/grafana-dashboard.json DESTINATION ${CMAKE_INSTALL_DATADIR}/mqbridge)
configure_file(${MQB_PKG_DIR}/changelog.in ${CMAKE_BINARY_DIR}/packaging/changelog @ONLY)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/packaging/changelog.gz
  COMMAND ${MQB_GZIP} -9n -c ${CMAKE_BINARY_DIR}/packaging/changelog
          > ${CMAKE_BINARY_DIR}/packaging/changelog.gz
  DEPENDS ${CMAKE_BINARY_DIR}/packaging/changelog VERBATIM)
add_custom_target(pkg_changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/packaging/changelog.gz)
install(FILES ${CMAKE_BINARY_DIR}/packaging/changelog.gz ${MQB_PKG_DIR}/copyright
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# --- the Debian package ------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mqbridge)
set(CPACK_PACKAGE_VENDOR "mqbridge maintainers")
set(CPACK_PACKAGE_CONTACT "mqbridge maintainers <maintainers@users.noreply.h-seed-429c055d.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "edge gateway: MQTT topics to partitioned, durable logs")
set(CPACK_PACKAGE_DESCRIPTION
"mqbridged subscribes to a local MQTT broker, maps topics onto the partitions
of durable, ordered logs in Kafka's RecordBatch v2 format on local disk,
forwards them to a Kafka cluster (store-and-forward) and serves queue
consumers over MQTT as consumer groups. It reports on an HTTP endpoint
(Prometheus metrics, JSON, health, readiness and a status page). The mqbridge
tool dumps and verifies the store and inspects groups and offsets.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)            # mqbridge_<version>_<arch>.deb
# The architecture is the target's, not the build machine's (CPack asks `dpkg
# --print-architecture`): a cross build (scripts/packaging/aarch64-linux-gnu.cmake, see
# scripts/cross-arm64.sh) packages mqbridge_<version>_arm64.deb.
if(CMAKE_CROSSCOMPILING AND NOT CPACK_DEBIAN_PACKAGE_ARCHITECTURE)
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
    set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|amd64)$")
    set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
  else()
    message(FATAL_ERROR "package.cmake: no Debian architecture for CMAKE_SYSTEM_PROCESSOR "
                        "'${CMAKE_SYSTEM_PROCESSOR}'; set -DCPACK_DEBIAN_PACKAGE_ARCHITECTURE")
  endif()
endif()
set(CPACK_DEBIAN_PACKAGE_RELEASE "")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")        # postinst's adduser/addgroup
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "mosquitto")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${MQB_PKG_DIR}/conffiles ${MQB_PKG_DIR}/postinst ${MQB_PKG_DIR}/prerm ${MQB_PKG_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
