# What lets the programs of one Debian 12 build run on the RPM targets too
# (packaging/README.md, "RPM targets"; tests/packaging/check_compat.py checks
# the result against packaging/rpm/targets.toml). Included by the top-level
# CMakeLists.txt before any target.
#
# libstdc++ linked statically: GCC 12's libstdc++ gives programs GLIBCXX_3.4.30
# symbol versions, which EL 9's GCC 11 libstdc++ lacks, and a static copy ties
# the programs to no C++ runtime at all. Safe here: every shared library the
# programs load (glibc, libcrypto, libsystemd) is C, so no C++ object or
# exception crosses a library boundary. The price: a libstdc++ fix reaches the
# programs only by a rebuild.
#
# libgcc stays shared (libgcc_s.so.1, on every EL and Fedora system): GCC 12's
# static unwinder (libgcc_eh.a) finds frames with _dl_find_object, glibc 2.35.
# The shared one the programs then use is the system's own; they need only
# its old GCC_3.x/4.x symbol versions.
#
# libstdc++.a's std::random_device calls arc4random, glibc 2.36: the programs'
# calls go to compat/arc4random.cc's getrandom-based copy instead (--wrap;
# --undefined makes the linker take it from the archive before libstdc++.a,
# which the driver links last, asks for it).
#
# Sanitizer and fuzzer builds (which make no packages) keep the shared
# runtimes their instrumentation expects.
if(NOT TWINCACHE_SANITIZE AND NOT TWINCACHE_FUZZ)
  add_library(tc_libc_compat STATIC ${CMAKE_CURRENT_LIST_DIR}/compat/arc4random.cc)
  add_link_options(-static-libstdc++ LINKER:--wrap=arc4random LINKER:--undefined=__wrap_arc4random)
  link_libraries(tc_libc_compat)
endif()
