// Clock: the one source of wall-clock time for the store and the protocol.
//
// Everything that depends on time (exptime, LRU last-access, cas uniques that
// replication turns into versions, stats "time" and "uptime") reads it through
// a Clock so tests can inject a ManualClock and step over an expiry without
// sleeping. Times are unix milliseconds, as replication ships them.
#ifndef TWINCACHE_CORE_BASE_CLOCK_H_
#define TWINCACHE_CORE_BASE_CLOCK_H_

#include <atomic>
#include <cstdint>

namespace twincache {

/// Abstract wall clock. Thread safety: implementations are safe to call from
/// any thread concurrently.
class Clock {
 public:
  virtual ~Clock() = default;

  /// Current unix time in milliseconds.
  virtual int64_t NowMillis() const = 0;

  /// Current unix time in whole seconds (floor of NowMillis() / 1000).
  int64_t NowSeconds() const { return NowMillis() / 1000; }
};

/// The real clock: CLOCK_REALTIME through the vDSO (about 20 ns a call).
class SystemClock final : public Clock {
 public:
  int64_t NowMillis() const override;

  /// A process-wide instance; never destroyed.
  static SystemClock* Default();
};

/// A clock that only moves when told to; for tests. Thread safe (atomic).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_millis) : now_ms_(start_millis) {}

  int64_t NowMillis() const override { return now_ms_.load(std::memory_order_relaxed); }

  /// Moves the clock forward by `millis` (may be negative to test clock steps).
  void Advance(int64_t millis) { now_ms_.fetch_add(millis, std::memory_order_relaxed); }

  /// Sets the clock to `millis` unix milliseconds.
  void Set(int64_t millis) { now_ms_.store(millis, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_BASE_CLOCK_H_
