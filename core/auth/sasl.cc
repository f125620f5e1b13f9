#include "core/auth/sasl.h"

#include <dlfcn.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <sasl/sasl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <system_error>
#include <utility>
#include <vector>

#include "core/base/errno_text.h"
#include "core/base/log.h"

namespace twincache {
namespace {

// The process-wide SASL configuration: written by InitSasl before any thread
// uses a session, read-only afterwards. libsasl2's callbacks get it as their
// context.
struct SaslGlobal {
  std::string conf_path;
  std::string pwdb_path;
  std::string realm;  // gethostname(): the user realm (memcached my_sasl_hostname)
  std::string fqdn;   // the server FQDN libsasl2 would look up per sasl_server_new
  int verbosity = 0;
  std::array<sasl_callback_t, 4> callbacks{};
};

SaslGlobal& Global() {
  static SaslGlobal global;
  return global;
}

std::atomic<bool> g_initialized{false};
std::atomic<bool> g_init_called{false};

// The libsasl2 functions this file calls, resolved by dlsym from the library
// InitSasl loads (sasl.h, "Run-time loading"); their types are those of
// Debian's <sasl/sasl.h>, the API that libsasl2.so.2 and libsasl2.so.3 share.
// Written by InitSasl before any session exists, read-only afterwards; a
// session calls them only once SaslInitialized().
struct SaslApi {
  decltype(&::sasl_set_mutex) set_mutex = nullptr;
  decltype(&::sasl_server_init) server_init = nullptr;
  decltype(&::sasl_server_done) server_done = nullptr;
  decltype(&::sasl_server_new) server_new = nullptr;
  decltype(&::sasl_dispose) dispose = nullptr;
  decltype(&::sasl_getprop) getprop = nullptr;
  decltype(&::sasl_setprop) setprop = nullptr;
  decltype(&::sasl_listmech) listmech = nullptr;
  decltype(&::sasl_server_start) server_start = nullptr;
  decltype(&::sasl_server_step) server_step = nullptr;
  decltype(&::sasl_errstring) errstring = nullptr;
  decltype(&::sasl_errdetail) errdetail = nullptr;
};

// Constant-initialized (all null) before any code runs.
SaslApi g_api;

// *slot = `name` from `library`; false with *missing = name when it has none.
template <typename Function>
bool Resolve(void* library, const char* name, Function* slot, std::string* missing) {
  // dlsym's object pointer to a function pointer: what POSIX dlsym promises works.
  *slot = reinterpret_cast<Function>(dlsym(library, name));
  if (*slot == nullptr) {
    *missing = name;
  }
  return *slot != nullptr;
}

bool ResolveApi(void* library, SaslApi* api, std::string* missing) {
  return Resolve(library, "sasl_set_mutex", &api->set_mutex, missing) &&
         Resolve(library, "sasl_server_init", &api->server_init, missing) &&
         Resolve(library, "sasl_server_done", &api->server_done, missing) &&
         Resolve(library, "sasl_server_new", &api->server_new, missing) &&
         Resolve(library, "sasl_dispose", &api->dispose, missing) &&
         Resolve(library, "sasl_getprop", &api->getprop, missing) &&
         Resolve(library, "sasl_setprop", &api->setprop, missing) &&
         Resolve(library, "sasl_listmech", &api->listmech, missing) &&
         Resolve(library, "sasl_server_start", &api->server_start, missing) &&
         Resolve(library, "sasl_server_step", &api->server_step, missing) &&
         Resolve(library, "sasl_errstring", &api->errstring, missing) &&
         Resolve(library, "sasl_errdetail", &api->errdetail, missing);
}

// Loads the first of `libraries` that dlopen finds and that defines every
// function of SaslApi into g_api; its name in *loaded. A library lacking one
// is closed and the next tried. False with *error naming each failure.
bool LoadSasl(const std::vector<std::string>& libraries, std::string* loaded, std::string* error) {
  std::string failures;
  for (const std::string& name : libraries) {
    // RTLD_LOCAL: nothing else resolves against it; its plugins link it themselves.
    void* library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    std::string failure;
    SaslApi api;
    std::string missing;
    if (library == nullptr) {
      // dlerror's static buffer: InitSasl runs before any other thread.
      const char* reason = dlerror();  // NOLINT(concurrency-mt-unsafe)
      failure = reason != nullptr ? reason : name + ": cannot load";
    } else if (!ResolveApi(library, &api, &missing)) {
      failure.append(name).append(": no ").append(missing);
      dlclose(library);
    } else {
      g_api = api;
      *loaded = name;
      return true;
    }
    failures += failures.empty() ? "" : "; ";
    failures += failure;
  }
  *error = "SASL: cannot load libsasl2 (" + (failures.empty() ? std::string("no library to try") : failures) +
           "): install libsasl2-2 (Debian) or cyrus-sasl-lib (EL, Fedora)";
  return false;
}

// libsasl2 stores every callback as int (*)(void) and calls it with the
// signature its id stands for (sasl.h). AsCallback<sasl_log_t>(&f) checks at
// compile time that f has that signature before the cast.
using SaslCallbackProc = int (*)();

// The detour through void (*)() is the generic function pointer that
// -Wcast-function-type accepts.
template <typename Signature>
SaslCallbackProc AsCallback(Signature* function) {
  return reinterpret_cast<SaslCallbackProc>(reinterpret_cast<void (*)()>(function));
}

// memcached sasl_defs.c sasl_getconf, the GETCONFPATH variant: SASL_CONF_PATH
// if set, else the first of /etc/sasl and /etc/sasl2 holding memcached.conf
// (when memcached.conf is itself a directory holding memcached.conf, that
// directory). nullopt when there is none.
std::optional<std::string> ResolveConfPath(const SaslOptions& options) {
  if (options.conf_path) {
    return options.conf_path;
  }
  for (const char* dir : {"/etc/sasl", "/etc/sasl2"}) {
    std::string file = std::string(dir) + "/memcached.conf";
    if (access((file + "/memcached.conf").c_str(), F_OK) == 0) {
      return file;
    }
    if (access(file.c_str(), F_OK) == 0) {
      return std::string(dir);
    }
  }
  return std::nullopt;
}

int GetConfPath(void* context, char** path) {
  *path = static_cast<SaslGlobal*>(context)->conf_path.data();
  return SASL_OK;
}

// memcached sasl_defs.c sasl_log: errors always; WARN and FAIL (e.g.
// "Password verification failed") with -v; NOTE, DEBUG and TRACE with -vv.
// PASS lines may hold passwords and are never written.
int LogCallback(void* context, int level, const char* message) {
  const int verbosity = static_cast<SaslGlobal*>(context)->verbosity;
  LogLevel log_level = LogLevel::kError;
  switch (level) {
    case SASL_LOG_NONE:
    case SASL_LOG_PASS:
      return SASL_OK;
    case SASL_LOG_WARN:
    case SASL_LOG_FAIL:
      if (verbosity < 1) {
        return SASL_OK;
      }
      log_level = LogLevel::kWarning;
      break;
    case SASL_LOG_NOTE:
    case SASL_LOG_DEBUG:
    case SASL_LOG_TRACE:
      if (verbosity < 2) {
        return SASL_OK;
      }
      log_level = LogLevel::kDebug;
      break;
    default:  // SASL_LOG_ERR and anything unknown
      break;
  }
  Log(log_level, "sasl_log", {{"sasl_level", std::to_string(level)}, {"message", message ? message : ""}});
  return SASL_OK;
}

// Whether the name of a MEMCACHED_SASL_PWDB line names `user`, libsasl2's
// canonical name: equal, or the line has no realm and `user` is it with the
// default realm appended (the difference from memcached in sasl.h).
bool PwdbNameMatches(std::string_view name, std::string_view user, std::string_view realm) {
  if (name == user) {
    return true;
  }
  if (realm.empty() || name.find('@') != std::string_view::npos) {
    return false;
  }
  return user.size() == name.size() + 1 + realm.size() && user.substr(0, name.size()) == name &&
         user[name.size()] == '@' && user.substr(name.size() + 1) == realm;
}

// Whether `pass` is accepted by `field`, the text after "user:" (memcached
// sasl_defs.c: the password may be followed by the end of the line, '\r' or
// ':' and further tokens). Constant time in the password's bytes.
bool PwdbPasswordMatches(std::string_view field, std::string_view pass) {
  if (field.size() < pass.size()) {
    return false;
  }
  if (field.size() > pass.size() && field[pass.size()] != ':' && field[pass.size()] != '\r') {
    return false;
  }
  return pass.empty() || CRYPTO_memcmp(field.data(), pass.data(), pass.size()) == 0;
}

// SASL_CB_SERVER_USERDB_CHECKPASS (memcached sasl_defs.c
// sasl_server_userdb_checkpass): libsasl2 calls it first for plaintext
// passwords; anything but SASL_OK lets libsasl2 go on to its own verifiers
// (pwcheck_method, by default auxprop: sasldb). The file is read on every
// check, so edits apply without a restart.
int PwdbCheckPass(sasl_conn_t* /*conn*/, void* context, const char* user, const char* pass,
                  unsigned pass_length, struct propctx* /*propctx*/) {
  const SaslGlobal& global = *static_cast<SaslGlobal*>(context);
  std::ifstream file(global.pwdb_path);
  if (!file) {
    // InitSasl read it; it went away since. Logged with -v only, as memcached,
    // so that clients cannot flood the log.
    if (global.verbosity > 0) {
      Log(LogLevel::kWarning, "sasl_pwdb_unreadable",
          {{"path", global.pwdb_path}, {"error", std::generic_category().message(errno)}});
    }
    return SASL_NOAUTHZ;
  }
  const std::string_view user_view(user);
  const std::string_view pass_view(pass, pass_length);
  bool ok = false;
  std::string line;
  while (std::getline(file, line)) {
    std::string_view entry(line);
    size_t colon = entry.find(':');
    if (colon == std::string_view::npos ||
        !PwdbNameMatches(entry.substr(0, colon), user_view, global.realm)) {
      continue;
    }
    // Every line of the user is tried, as memcached 1.6 does.
    ok = PwdbPasswordMatches(entry.substr(colon + 1), pass_view) || ok;
  }
  if (ok) {
    return SASL_OK;
  }
  if (global.verbosity > 0) {
    Log(LogLevel::kInfo, "sasl_pwdb_refused", {{"user", std::string(user_view)}});
  }
  return SASL_NOAUTHZ;
}

// Real mutexes for libsasl2 (sasl_set_mutex); its defaults do nothing.
void* MutexAlloc() { return new std::mutex; }
int MutexLock(void* mutex) {
  static_cast<std::mutex*>(mutex)->lock();
  return SASL_OK;
}
int MutexUnlock(void* mutex) {
  static_cast<std::mutex*>(mutex)->unlock();
  return SASL_OK;
}
void MutexFree(void* mutex) { delete static_cast<std::mutex*>(mutex); }

// gethostname(), "" on failure (memcached init_sasl).
std::string HostName() {
  std::array<char, 1025> name{};
  if (gethostname(name.data(), name.size() - 1) != 0) {
    return "";
  }
  return std::string(name.data());
}

// The FQDN libsasl2's get_fqhostname would find for sasl_server_new: the host
// name if it has a dot, else its canonical name from the resolver, else the
// host name.
std::string FullyQualified(const std::string& host) {
  if (host.empty() || host.find('.') != std::string::npos) {
    return host;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = AI_CANONNAME;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0 || result == nullptr) {
    return host;
  }
  std::string fqdn = result->ai_canonname != nullptr ? result->ai_canonname : host;
  freeaddrinfo(result);
  return fqdn;
}

std::string SaslError(int code) { return g_api.errstring(code, nullptr, nullptr); }

}  // namespace

// getenv at start-up, before any thread exists (sasl.h: "at start").
// NOLINTBEGIN(concurrency-mt-unsafe)
SaslOptions SaslOptionsFromEnvironment(int verbosity) {
  SaslOptions options;
  if (const char* conf = std::getenv("SASL_CONF_PATH")) {
    options.conf_path = conf;
  }
  if (const char* pwdb = std::getenv("MEMCACHED_SASL_PWDB")) {
    options.pwdb_path = pwdb;
  }
  // NOLINTEND(concurrency-mt-unsafe)
  options.verbosity = verbosity;
  return options;
}

bool InitSasl(const SaslOptions& options, SaslInitInfo* info, std::string* error) {
  if (g_init_called.exchange(true)) {
    *error = "SASL already initialized";
    return false;
  }
  std::string library;
  if (!LoadSasl(options.libraries, &library, error)) {
    return false;
  }
  SaslGlobal& global = Global();
  std::optional<std::string> conf_path = ResolveConfPath(options);
  if (!conf_path) {
    *error = "SASL: no config path: set SASL_CONF_PATH or create /etc/sasl2/memcached.conf (as memcached -S)";
    return false;
  }
  if (!options.pwdb_path.empty() && !std::ifstream(options.pwdb_path)) {
    *error = "SASL: cannot read MEMCACHED_SASL_PWDB file " + options.pwdb_path + ": " + ErrnoText(errno);
    return false;
  }
  global.conf_path = *conf_path;
  global.pwdb_path = options.pwdb_path;
  global.verbosity = options.verbosity;
  global.realm = HostName();
  global.fqdn = FullyQualified(global.realm);
  size_t n = 0;
  if (!global.pwdb_path.empty()) {
    global.callbacks[n++] = {SASL_CB_SERVER_USERDB_CHECKPASS,
                             AsCallback<sasl_server_userdb_checkpass_t>(&PwdbCheckPass), &global};
  }
  global.callbacks[n++] = {SASL_CB_LOG, AsCallback<sasl_log_t>(&LogCallback), &global};
  global.callbacks[n++] = {SASL_CB_GETCONFPATH, AsCallback<sasl_getconfpath_t>(&GetConfPath), &global};
  global.callbacks[n] = {SASL_CB_LIST_END, nullptr, nullptr};

  g_api.set_mutex(&MutexAlloc, &MutexLock, &MutexUnlock, &MutexFree);
  int code = g_api.server_init(global.callbacks.data(), "memcached");
  if (code != SASL_OK) {
    *error = "SASL: sasl_server_init failed: " + SaslError(code) + " (config path " + global.conf_path + ")";
    return false;
  }
  g_initialized.store(true, std::memory_order_release);

  // A server that offers nothing would refuse every client; say so now.
  std::string mechanisms;
  std::string list_error;
  bool listed = SaslSession().ListMechanisms(&mechanisms, &list_error);
  if (!listed) {
    g_initialized.store(false, std::memory_order_release);
    g_api.server_done();
    *error = "SASL: no mechanism available (" + list_error + "; see mech_list in " + global.conf_path +
             "/memcached.conf and the plugins of libsasl2-modules)";
    return false;
  }
  info->library = library;
  info->conf_path = global.conf_path;
  info->mechanisms = mechanisms;
  info->realm = global.realm;
  return true;
}

bool SaslInitialized() { return g_initialized.load(std::memory_order_acquire); }

SaslSession::~SaslSession() {
  if (conn_ != nullptr) {
    g_api.dispose(&conn_);
  }
}

SaslSession::SaslSession(SaslSession&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)),
      in_progress_(std::exchange(other.in_progress_, false)),
      authenticated_(std::exchange(other.authenticated_, false)),
      username_(std::move(other.username_)) {
  other.username_.clear();
}

SaslSession& SaslSession::operator=(SaslSession&& other) noexcept {
  if (this != &other) {
    if (conn_ != nullptr) {
      g_api.dispose(&conn_);
    }
    conn_ = std::exchange(other.conn_, nullptr);
    in_progress_ = std::exchange(other.in_progress_, false);
    authenticated_ = std::exchange(other.authenticated_, false);
    username_ = std::move(other.username_);
    other.username_.clear();
  }
  return *this;
}

// memcached proto_bin.c init_sasl_conn: sasl_server_new("memcached", FQDN,
// realm, NULL, NULL, NULL, 0), created once per connection; here with
// ANONYMOUS excluded through the security properties.
bool SaslSession::EnsureContext(std::string* error) {
  if (!SaslInitialized()) {
    *error = "SASL not initialized";
    return false;
  }
  if (conn_ != nullptr) {
    return true;
  }
  const SaslGlobal& global = Global();
  sasl_conn_t* conn = nullptr;
  int code = g_api.server_new("memcached", global.fqdn.empty() ? nullptr : global.fqdn.c_str(),
                              global.realm.empty() ? nullptr : global.realm.c_str(), nullptr, nullptr,
                              nullptr, 0, &conn);
  if (code != SASL_OK) {
    *error = "sasl_server_new: " + SaslError(code);
    if (conn != nullptr) {
      g_api.dispose(&conn);
    }
    return false;
  }
  const void* current = nullptr;
  code = g_api.getprop(conn, SASL_SEC_PROPS, &current);
  if (code == SASL_OK && current != nullptr) {
    sasl_security_properties_t props = *static_cast<const sasl_security_properties_t*>(current);
    props.security_flags |= SASL_SEC_NOANONYMOUS;
    code = g_api.setprop(conn, SASL_SEC_PROPS, &props);
  } else if (code == SASL_OK) {
    code = SASL_FAIL;
  }
  if (code != SASL_OK) {
    *error = "SASL security properties: " + SaslError(code);
    g_api.dispose(&conn);
    return false;
  }
  conn_ = conn;
  return true;
}

bool SaslSession::ListMechanisms(std::string* names, std::string* error) {
  authenticated_ = false;
  username_.clear();
  if (!EnsureContext(error)) {
    return false;
  }
  const char* list = nullptr;
  unsigned length = 0;
  int count = 0;
  int code = g_api.listmech(conn_, nullptr, "", " ", "", &list, &length, &count);
  if (code != SASL_OK) {
    *error = "sasl_listmech: " + SaslError(code);
    return false;
  }
  if (list == nullptr || length == 0 || count <= 0) {
    *error = "sasl_listmech: no mechanisms";
    return false;
  }
  names->assign(list, length);
  return true;
}

SaslResult SaslSession::Start(std::string_view mechanism, std::string_view client_data) {
  authenticated_ = false;
  username_.clear();
  in_progress_ = false;
  SaslResult result;
  if (mechanism.empty() || mechanism.size() > kSaslMechanismMaxLength ||
      mechanism.find('\0') != std::string_view::npos) {
    result.reason = "bad mechanism name";
    return result;
  }
  if (client_data.size() > UINT_MAX) {
    result.reason = "client data too long";
    return result;
  }
  // A fresh context for every exchange: libsasl2 refuses a second
  // sasl_server_start on a context that completed one ("attempting server
  // step after doneflag").
  if (conn_ != nullptr) {
    g_api.dispose(&conn_);
  }
  if (!EnsureContext(&result.reason)) {
    return result;
  }
  const std::string mech(mechanism);
  const char* out = nullptr;
  unsigned out_length = 0;
  // memcached passes no data (NULL) for an empty value.
  int code = g_api.server_start(conn_, mech.c_str(), client_data.empty() ? nullptr : client_data.data(),
                                static_cast<unsigned>(client_data.size()), &out, &out_length);
  return Finish(code, out, out_length);
}

SaslResult SaslSession::Step(std::string_view client_data) {
  authenticated_ = false;
  username_.clear();
  SaslResult result;
  if (!in_progress_ || conn_ == nullptr) {
    in_progress_ = false;
    result.reason = "SASL step without an authentication in progress";
    return result;
  }
  in_progress_ = false;
  if (client_data.size() > UINT_MAX) {
    result.reason = "client data too long";
    return result;
  }
  const char* out = nullptr;
  unsigned out_length = 0;
  int code = g_api.server_step(conn_, client_data.empty() ? nullptr : client_data.data(),
                               static_cast<unsigned>(client_data.size()), &out, &out_length);
  return Finish(code, out, out_length);
}

// memcached proto_bin.c process_bin_complete_sasl_auth: SASL_OK
// authenticates, SASL_CONTINUE asks for a step, anything else refuses.
SaslResult SaslSession::Finish(int code, const char* out, unsigned out_length) {
  SaslResult result;
  if (code == SASL_CONTINUE) {
    in_progress_ = true;
    result.status = SaslStatus::kContinue;
    if (out != nullptr) {
      result.challenge.assign(out, out_length);
    }
    return result;
  }
  if (code != SASL_OK) {
    const char* detail = g_api.errdetail(conn_);
    result.reason = detail != nullptr ? detail : SaslError(code);
    return result;
  }
  const void* user = nullptr;
  if (g_api.getprop(conn_, SASL_USERNAME, &user) != SASL_OK || user == nullptr ||
      *static_cast<const char*>(user) == '\0') {
    result.reason = "authenticated without a user name";
    return result;
  }
  username_ = static_cast<const char*>(user);
  authenticated_ = true;
  result.status = SaslStatus::kOk;
  if (out != nullptr) {
    result.challenge.assign(out, out_length);
  }
  return result;
}

}  // namespace twincache
