// Reload hooks: what SIGHUP re-reads besides twincached's settings.
//
// core/server/reload.h re-reads the settings and then runs these hooks, in
// order, logging each by name. This is the one list of them. memcached 1.6
// re-reads its -Y auth file on SIGHUP (memcached.c clock_handler,
// authfile_load) and its TLS certificates on the `refresh_certs` command;
// twincached does both on SIGHUP too:
//  - "tls_certificates" (with -Z): ServerState::refresh_certs, which loads
//    the chain, key and CA file into a new context and swaps it in for new
//    connections only if all loaded; the old context stays on failure and
//    open connections keep theirs (core/net/tls_context.h).
//  - "auth_file" (with -Y): reads the file into a new table and swaps it in,
//    as authfile_load does; a file that cannot be read keeps the old users
//    (core/auth/ascii_auth.h).
//  - SASL (-S): no hook needed. MEMCACHED_SASL_PWDB is read at every check
//    and libsasl2 opens its sasldb per authentication (core/auth/sasl.h), so
//    changes apply at once; memcached.conf under SASL_CONF_PATH is read by
//    sasl_server_init, which cannot run twice in a process: a restart. If
//    core/auth ever caches a password database, its reload is a hook here.
#ifndef TWINCACHE_DAEMON_RELOAD_HOOKS_H_
#define TWINCACHE_DAEMON_RELOAD_HOOKS_H_

#include <vector>

#include "core/auth/ascii_auth.h"
#include "core/config/settings.h"
#include "core/protocol/server_state.h"
#include "core/server/reload.h"

namespace twincache {

/// The hooks for a daemon started with `settings` (see above): `state`'s
/// refresh_certs with -Z, `ascii_auth` (nullptr without -Y) reloading
/// settings.auth_file. Both must outlive the hooks. Called once at start,
/// before the server runs.
std::vector<ReloadHook> ReloadHooks(const Settings& settings, ServerState* state, AsciiAuthTable* ascii_auth);

}  // namespace twincache

#endif  // TWINCACHE_DAEMON_RELOAD_HOOKS_H_
