#include "core/base/clock.h"

#include <ctime>

namespace twincache {

int64_t SystemClock::NowMillis() const {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

SystemClock* SystemClock::Default() {
  static SystemClock* clock = new SystemClock();  // never destroyed: used by detached threads
  return clock;
}

}  // namespace twincache
