// Deadline: the one time limit that every step of a check shares.
//
// keepalived (2.2.7) counts a check that outlives its `timeout` as failed and
// starts another copy every `interval` while one hangs, so the check spends a
// single budget (--timeout-ms) across connecting, sending and reading on both
// endpoints: each wait is given what is left, never a fresh timeout.
#ifndef TWINCACHE_HEALTHCHECK_DEADLINE_H_
#define TWINCACHE_HEALTHCHECK_DEADLINE_H_

#include <chrono>

namespace twincache {

/// A point in steady (monotonic) time, `budget_ms` after construction.
/// Thread safety: immutable after construction; safe to share.
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Deadline(int budget_ms)
      : budget_ms_(budget_ms), end_(Clock::now() + std::chrono::milliseconds(budget_ms)) {}

  /// The whole budget in milliseconds, for messages ("within 500 ms").
  int budget_ms() const { return budget_ms_; }

  /// Time left, zero once passed.
  std::chrono::microseconds Remaining() const {
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(end_ - Clock::now());
    return left.count() > 0 ? left : std::chrono::microseconds(0);
  }

  /// Milliseconds left for poll(2), rounded up so a wait never ends before
  /// the deadline; 0 once passed.
  int RemainingMs() const {
    return static_cast<int>((Remaining() + std::chrono::microseconds(999)) / std::chrono::milliseconds(1));
  }

  bool Expired() const { return Clock::now() >= end_; }

  /// The point itself, for APIs that take one (core/http).
  Clock::time_point end() const { return end_; }

 private:
  int budget_ms_;
  Clock::time_point end_;
};

}  // namespace twincache

#endif  // TWINCACHE_HEALTHCHECK_DEADLINE_H_
