# The hardening Debian builds its packages with (dpkg-buildflags, bookworm,
# hardening=+all), so the shipped programs carry it (lintian's hardening-*
# checks): stack protector, fortified libc calls, full RELRO with immediate
# binding. gcc 12 and clang 14 on Debian already build position-independent
# executables. _FORTIFY_SOURCE needs optimisation and bypasses the sanitizers'
# interceptors, so it is for optimised, unsanitized builds only.
# Included by the top-level CMakeLists.txt before any target.
add_compile_options(-fstack-protector-strong)
if(NOT TWINCACHE_SANITIZE AND NOT TWINCACHE_FUZZ)
  add_compile_options($<$<CONFIG:Release,RelWithDebInfo,MinSizeRel>:-D_FORTIFY_SOURCE=2>)
endif()
add_link_options(LINKER:-z,relro LINKER:-z,now)
