// Role: the VRRP role keepalived last reported for this node.
//
// twincache-notify posts each keepalived transition (MASTER, BACKUP, FAULT,
// STOP) with a sequence number that orders the hooks keepalived forked (they
// run concurrently and may arrive out of order); the newest one wins. The role
// changes nothing in how the daemon serves: both twins always accept reads and
// writes (replication is multi-master) and the VIP decides where clients go.
// It is shown in stats, /health and /metrics, and every change is logged.
#ifndef TWINCACHE_CORE_PROTOCOL_ROLE_H_
#define TWINCACHE_CORE_PROTOCOL_ROLE_H_

#include <cstdint>
#include <mutex>
#include <string>

namespace twincache {

/// One reported role.
struct RoleReport {
  std::string role = "UNKNOWN";  ///< MASTER, BACKUP, FAULT, STOP, or UNKNOWN before any report
  uint64_t seq = 0;              ///< ordering number from twincache-notify
  std::string instance;          ///< the keepalived VRRP instance or group name
  int priority = 0;              ///< the effective priority keepalived reported
  int64_t at_ms = 0;             ///< unix ms when the report arrived
};

/// Thread safety: all methods are safe from any thread.
class RoleState {
 public:
  /// True for the states keepalived's notify passes (keepalived.conf(5),
  /// "notify"): MASTER, BACKUP, FAULT, STOP (DELETED is taken as STOP).
  static bool IsValidRole(const std::string& role);

  /// Takes `report` if its seq is greater than the current one; returns
  /// whether it did and, in *previous, the role it replaced or kept.
  bool Update(const RoleReport& report, RoleReport* previous);

  RoleReport Get() const;

 private:
  mutable std::mutex mu_;
  RoleReport current_;  // guarded by mu_
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_PROTOCOL_ROLE_H_
