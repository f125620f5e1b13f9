#include "daemon/reload_hooks.h"

namespace twincache {

std::vector<ReloadHook> ReloadHooks(const Settings& /*settings*/) {
  std::vector<ReloadHook> hooks;
  // TLS: once -Z is served, append {"tls_certificates", ...} when
  // settings names a certificate (reload_hooks.h).
  // -Y: once the ASCII auth file exists, append {"auth_file", ...}.
  return hooks;
}

}  // namespace twincache
