#include "daemon/reload_hooks.h"

namespace twincache {

std::vector<ReloadHook> ReloadHooks(const Settings& settings, ServerState* state,
                                    AsciiAuthTable* ascii_auth) {
  std::vector<ReloadHook> hooks;
  if (settings.ssl_enabled && state->refresh_certs) {
    hooks.push_back(
        {"tls_certificates", [state](std::string* error) { return state->refresh_certs(error); }});
  }
  if (ascii_auth != nullptr) {
    hooks.push_back({"auth_file", [ascii_auth, path = settings.auth_file](std::string* error) {
                       return ascii_auth->Load(path, error);
                     }});
  }
  return hooks;
}

}  // namespace twincache
