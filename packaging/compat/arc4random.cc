// arc4random for programs that must run on glibc 2.34 (EL 9).
//
// With libstdc++ linked statically (packaging/compat.cmake), its
// std::random_device code (GCC 12, libstdc++ src/c++11/random.cc) is part of
// the program, and it calls arc4random, which glibc has only since 2.36
// (symbol version GLIBC_2.36). The linker sends the program's calls to
// __wrap_arc4random instead (-Wl,--wrap=arc4random), defined here from
// getrandom(2) (glibc 2.25, Linux 3.17), the kernel source glibc 2.36's
// arc4random reads too. Nothing else in the process is affected: shared
// libraries keep their own references.
#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace {

// getrandom blocks only until the kernel's pool is first initialised, and
// each wait can be interrupted by a signal: retried this many times.
constexpr int kMaxInterruptions = 1000;

}  // namespace

/// 32 uniformly random bits (arc4random(3), glibc 2.36 stdlib/arc4random.c
/// semantics: never fails; aborts when the kernel gives no randomness, as
/// glibc does). Thread safe: getrandom keeps no user-space state.
extern "C" std::uint32_t __wrap_arc4random() {
  std::uint32_t value = 0;
  for (int attempt = 0; attempt < kMaxInterruptions; ++attempt) {
    // Requests of at most 256 bytes are never short once the pool is ready.
    ssize_t got = getrandom(&value, sizeof value, 0);
    if (got == static_cast<ssize_t>(sizeof value)) {
      return value;
    }
    if (got >= 0 || errno != EINTR) {
      break;
    }
  }
  std::abort();
}
