// The replication states that cross process boundaries, with their one
// spelling: `stats` (repl_state, repl_initial_sync), the admin endpoint's
// /health JSON and twincache-check all name them through this header, so a
// state is never matched as a loose string in one program and written in
// another. Header-only and dependency-free, so healthcheck/ can include it.
#ifndef TWINCACHE_CORE_REPLICATION_REPL_STATE_H_
#define TWINCACHE_CORE_REPLICATION_REPL_STATE_H_

#include <array>
#include <optional>
#include <string_view>
#include <utility>

namespace twincache {

/// The link to the twin: `stats` repl_state, /health replication.state.
/// kNone: no twin configured (only /health and the check show it).
enum class ReplState : int { kConnecting, kSyncing, kConnected, kDisconnected, kNone };

/// The initial sync from the twin (docs/replication.md, "Initial sync"):
/// `stats` repl_initial_sync, /health replication.initial_sync. kNone: no
/// twin configured.
enum class InitialSync : int { kNone, kPending, kDone };

/// /health's "reason" while the initial sync is pending; twincache-check
/// lets --require-sync off override this reason alone.
inline constexpr std::string_view kInitialSyncPendingReason = "initial sync pending";

namespace repl_state_internal {
inline constexpr std::array<std::pair<ReplState, std::string_view>, 5> kReplStateNames{{
    {ReplState::kConnecting, "connecting"},
    {ReplState::kSyncing, "syncing"},
    {ReplState::kConnected, "connected"},
    {ReplState::kDisconnected, "disconnected"},
    {ReplState::kNone, "none"},
}};
inline constexpr std::array<std::pair<InitialSync, std::string_view>, 3> kInitialSyncNames{{
    {InitialSync::kNone, "none"},
    {InitialSync::kPending, "pending"},
    {InitialSync::kDone, "done"},
}};

template <typename Enum, size_t N>
constexpr std::string_view NameIn(const std::array<std::pair<Enum, std::string_view>, N>& names, Enum value) {
  for (const auto& [known, name] : names) {
    if (known == value) {
      return name;
    }
  }
  return "none";
}

template <typename Enum, size_t N>
constexpr std::optional<Enum> ParseIn(const std::array<std::pair<Enum, std::string_view>, N>& names,
                                      std::string_view text) {
  for (const auto& [known, name] : names) {
    if (name == text) {
      return known;
    }
  }
  return std::nullopt;
}
}  // namespace repl_state_internal

/// The spelling of `state` ("connecting", ...). Pure.
constexpr std::string_view Name(ReplState state) {
  return repl_state_internal::NameIn(repl_state_internal::kReplStateNames, state);
}

/// The spelling of `sync` ("none", "pending", "done"). Pure.
constexpr std::string_view Name(InitialSync sync) {
  return repl_state_internal::NameIn(repl_state_internal::kInitialSyncNames, sync);
}

/// The state spelled `text`, or nullopt for any other text. Pure.
constexpr std::optional<ReplState> ParseReplState(std::string_view text) {
  return repl_state_internal::ParseIn(repl_state_internal::kReplStateNames, text);
}

/// The initial sync spelled `text`, or nullopt for any other text. Pure.
constexpr std::optional<InitialSync> ParseInitialSync(std::string_view text) {
  return repl_state_internal::ParseIn(repl_state_internal::kInitialSyncNames, text);
}

}  // namespace twincache

#endif  // TWINCACHE_CORE_REPLICATION_REPL_STATE_H_
