#include "core/protocol/role.h"

namespace twincache {

bool RoleState::IsValidRole(const std::string& role) {
  return role == "MASTER" || role == "BACKUP" || role == "FAULT" || role == "STOP" || role == "DELETED";
}

bool RoleState::Update(const RoleReport& report, RoleReport* previous) {
  std::lock_guard<std::mutex> lock(mu_);
  *previous = current_;
  if (report.seq <= current_.seq) {
    return false;
  }
  current_ = report;
  if (current_.role == "DELETED") {
    current_.role = "STOP";
  }
  return true;
}

RoleReport RoleState::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

}  // namespace twincache
