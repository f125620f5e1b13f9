// Reload hooks: what SIGHUP re-reads besides twincached's settings.
//
// core/server/reload.h re-reads the settings and then runs these hooks, in
// order, logging each by name. This is the one list of them. memcached 1.6
// re-reads its -Y auth file on SIGHUP (memcached.c clock_handler,
// authfile_load) and its TLS certificates on the `refresh_certs` command;
// twincached has neither yet, so the list is empty. Where each belongs:
//  - TLS (memcached -Z, -o ssl_chain_cert, ssl_key, ssl_ca_cert): a hook
//    "tls_certificates" that loads the chain, key and CA file into a new
//    context and swaps it in for new connections only if all loaded; the
//    old context stays on failure.
//  - The ASCII protocol's auth file (memcached -Y): a hook "auth_file" that
//    reads the file into a new table and swaps it in, as authfile_load does.
//  - SASL (-S): no hook needed. MEMCACHED_SASL_PWDB is read at every check
//    and libsasl2 opens its sasldb per authentication (core/auth/sasl.h), so
//    changes apply at once; memcached.conf under SASL_CONF_PATH is read by
//    sasl_server_init, which cannot run twice in a process: a restart. If
//    core/auth ever caches a password database, its reload is a hook here.
#ifndef TWINCACHE_DAEMON_RELOAD_HOOKS_H_
#define TWINCACHE_DAEMON_RELOAD_HOOKS_H_

#include <vector>

#include "core/config/settings.h"
#include "core/server/reload.h"

namespace twincache {

/// The hooks for a daemon started with `settings` (see above); empty for
/// now. Called once at start, before the server runs.
std::vector<ReloadHook> ReloadHooks(const Settings& settings);

}  // namespace twincache

#endif  // TWINCACHE_DAEMON_RELOAD_HOOKS_H_
