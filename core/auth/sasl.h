// SASL: client authentication on Cyrus SASL (libsasl2), as memcached does it
// for the binary protocol when started with -S (memcached sasl_defs.c and
// proto_bin.c; the protocol is memcached's wiki "SASLAuthProtocol").
//
// core/auth is the home of client authentication: SASL for the binary
// protocol now, TLS client certificates and the ASCII protocol's auth file
// (memcached -Y) later. It knows nothing of sockets or opcodes: the protocol
// handler feeds it a mechanism name and the client's bytes and sends back
// what it answers.
//
// Configuration is memcached's, so a memcached deployment's files work as
// they are:
//  - libsasl2 runs with the application name "memcached": it reads
//    memcached.conf (mech_list, sasldb_path, pwcheck_method, log_level, ...)
//    from the first directory of SASL_CONF_PATH (a ':'-separated list of
//    directories, not a file) that holds one. Without SASL_CONF_PATH the path
//    is /etc/sasl or /etc/sasl2 when it holds memcached.conf (or
//    /etc/sasl{,2}/memcached.conf when that is a directory holding
//    memcached.conf), as memcached's GETCONFPATH callback; with neither,
//    InitSasl fails as memcached exits ("Error initializing sasl.").
//  - The service name is "memcached" and the default user realm is
//    gethostname(), so `saslpasswd2 -a memcached -c USER` users (stored as
//    USER@HOSTNAME) log in as "USER" or "USER@HOSTNAME".
//  - MEMCACHED_SASL_PWDB names a plaintext file of "user:password" lines
//    (memcached's --enable-sasl-pwdb), re-read on every check and tried
//    before libsasl2's own verifiers (sasldb) for the plaintext mechanisms
//    (PLAIN, LOGIN). A password is accepted when it equals the text after
//    "user:" up to the end of the line or up to any further ':' (memcached
//    ignores "additional tokens"), compared in constant time. A file that
//    cannot be read refuses its users (and InitSasl fails if it cannot be
//    read at start, where memcached would start and refuse every login).
//
// Where this differs from memcached 1.6 (checked against Debian's memcached
// 1.6.18 on libsasl2 2.1.28); the first two refuse what memcached lets in or
// fails only later, the rest fix what breaks there:
//  - ANONYMOUS is never offered nor accepted (SASL_SEC_NOANONYMOUS). Without a
//    mech_list, libsasl2 would let any client in through it.
//  - InitSasl fails when no mechanism is usable (libsasl2-modules missing, or a
//    mech_list naming none that is installed); memcached starts and answers
//    every authentication with "Auth failure.".
//  - libsasl2 gets real mutexes (sasl_set_mutex); its defaults are no-ops, and
//    sessions on different worker threads share plugin state (DIGEST-MD5's
//    reauthentication cache).
//  - The server's FQDN is resolved once in InitSasl, not by libsasl2 with a
//    DNS lookup in every session (sasl_server_new with serverFQDN NULL).
//  - A MEMCACHED_SASL_PWDB line "user:password" matches whether the client
//    sends "user" or "user@HOSTNAME". memcached compares libsasl2's
//    realm-qualified name ("user@HOSTNAME") with the line, so its documented
//    "user:password" form fails unless the line names the realm too (memcached
//    issue #263). Lines "user@HOSTNAME:password" work in both.
//  - Every Start runs in a fresh libsasl2 context, so a client can
//    authenticate again on the same connection. memcached reuses the context,
//    and libsasl2 refuses a second exchange after a successful one ("attempting
//    server step after doneflag"): there the second Auth fails and leaves the
//    connection unauthenticated.
//  - No length limit on MEMCACHED_SASL_PWDB entries (memcached refuses a user
//    and password longer than 252 bytes together).
//
// Thread safety: InitSasl once, before worker threads start (sasl_server_init
// is not thread safe). A SaslSession belongs to one connection and is used
// from one thread at a time; sessions on different threads are independent.
#ifndef TWINCACHE_CORE_AUTH_SASL_H_
#define TWINCACHE_CORE_AUTH_SASL_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

struct sasl_conn;  // libsasl2's connection context (sasl_conn_t), kept out of this header

namespace twincache {

/// Longest mechanism name in bytes (memcached sasl_defs.h MAX_SASL_MECH_LEN).
/// memcached answers a SASL Auth/Step request whose key is longer with
/// EINVAL before it reaches libsasl2 (proto_bin.c process_bin_sasl_auth).
inline constexpr size_t kSaslMechanismMaxLength = 32;

/// What InitSasl reads; memcached takes both paths from its environment
/// (SaslOptionsFromEnvironment).
struct SaslOptions {
  std::optional<std::string> conf_path;  ///< SASL_CONF_PATH: directories, ':'-separated; nullopt: /etc search
  std::string pwdb_path;                 ///< MEMCACHED_SASL_PWDB: "user:password" file; "" = none
  int verbosity = 0;                     ///< -v count: libsasl2's WARN/FAIL lines at 1, NOTE/DEBUG/TRACE at 2
};

/// SASL_CONF_PATH (nullopt when unset) and MEMCACHED_SASL_PWDB ("" when unset)
/// from the environment, with `verbosity`. Thread safety: reads the
/// environment (getenv); call at start, before threads.
SaslOptions SaslOptionsFromEnvironment(int verbosity);

/// What InitSasl found, for the start log line.
struct SaslInitInfo {
  std::string conf_path;   ///< the SASL_CONF_PATH or /etc directory libsasl2 reads memcached.conf from
  std::string mechanisms;  ///< what sessions offer, space separated, e.g. "PLAIN CRAM-MD5"
  std::string realm;       ///< default user realm (gethostname()); "" if the host name is unknown
};

/// Initializes libsasl2 for the process (sasl_server_init with app name
/// "memcached", memcached sasl_defs.c init_sasl): the config path as in the
/// file comment, the MEMCACHED_SASL_PWDB check when options.pwdb_path is set,
/// libsasl2's log lines through core/base/log (event=sasl_log; level PASS,
/// which may carry passwords, is never written), real mutexes. Then checks
/// that options.pwdb_path (if set) can be read and that a session offers at
/// least one mechanism, and fills *info.
///
/// False with *error, one line, when any of this fails, e.g.
///   "SASL: no config path: set SASL_CONF_PATH or create /etc/sasl2/memcached.conf (as memcached -S)"
///   "SASL: cannot read MEMCACHED_SASL_PWDB file F: No such file or directory"
///   "SASL: no mechanism available (...)"
/// and then the caller must not serve with -S (memcached exits). A second
/// call fails with "SASL already initialized": one configuration per process.
///
/// Reads its files as the calling user: call it after dropping privileges, as
/// memcached does, so that files the daemon's user cannot read fail here.
/// Thread safety: call once, before any thread uses a SaslSession.
bool InitSasl(const SaslOptions& options, SaslInitInfo* info, std::string* error);

/// True once InitSasl succeeded. Thread safety: any thread.
bool SaslInitialized();

/// What a Start or Step ended in. The binary handler maps it to a response
/// (memcached proto_bin.c process_bin_complete_sasl_auth).
enum class SaslStatus {
  kOk,        ///< authenticated: status 0, value "Authenticated" (`challenge` is not sent)
  kContinue,  ///< the mechanism needs another Step: status 0x21 AUTH_CONTINUE, value `challenge`
  kFail,      ///< refused: status 0x20 AUTH_ERROR, value "Auth failure."
};

struct SaslResult {
  SaslStatus status = SaslStatus::kFail;
  std::string challenge;  ///< kContinue: server bytes for the client (may be empty); kOk: the mechanism's
                          ///< final server data, which memcached does not send
  std::string reason;     ///< kFail: why, for the log (libsasl2's sasl_errdetail or ours); never a password
};

/// One connection's SASL state: a libsasl2 server context (service
/// "memcached", the realm and FQDN of InitSasl, ANONYMOUS excluded; created
/// when first needed and anew by every Start) and whether the connection is
/// authenticated.
///
/// As memcached (proto_bin.c init_sasl_conn), every ListMechanisms, Start and
/// Step first clears authenticated(): only a Start or Step that returns kOk
/// leaves the connection authenticated, and listing mechanisms or a failed
/// re-authentication ends an earlier success. Every error is a refusal
/// (kFail / false): before InitSasl succeeded, when libsasl2 cannot create the
/// context, for a mechanism not offered, bad client data, or a password that
/// does not verify.
///
/// Thread safety: one thread at a time (the connection's); movable, not
/// copyable. Requires a successful InitSasl for anything but refusals.
class SaslSession {
 public:
  SaslSession() = default;
  ~SaslSession();  ///< sasl_dispose
  SaslSession(SaslSession&& other) noexcept;
  SaslSession& operator=(SaslSession&& other) noexcept;
  SaslSession(const SaslSession&) = delete;
  SaslSession& operator=(const SaslSession&) = delete;

  /// The mechanisms a client may use, space separated with no prefix or
  /// suffix, e.g. "PLAIN CRAM-MD5": the value memcached sends for opcode 0x20
  /// (sasl_listmech(conn, NULL, "", " ", "")). False with *error when libsasl2
  /// fails or offers none (memcached: status 0x20 AUTH_ERROR). Clears
  /// authenticated().
  bool ListMechanisms(std::string* names, std::string* error);

  /// Starts `mechanism` (e.g. "PLAIN"; 1..kSaslMechanismMaxLength bytes, no
  /// NUL) with the client's initial response `client_data` (opcode 0x21: the
  /// key and the value; empty data is passed to libsasl2 as none, and PLAIN
  /// then answers kContinue with an empty challenge). PLAIN's data is
  /// "authzid NUL authcid NUL password" (RFC 4616). Starting again abandons an
  /// exchange in progress or ends an earlier success (a new libsasl2 context).
  /// Clears authenticated() and username().
  SaslResult Start(std::string_view mechanism, std::string_view client_data);

  /// The client's next response `client_data` (opcode 0x22) in the exchange a
  /// Start answered kContinue; kFail when there is none in progress (memcached:
  /// "SASL_STEP called but sasl_server_start not called"), e.g. after a kOk or
  /// kFail. Clears authenticated() and username().
  SaslResult Step(std::string_view client_data);

  /// True after a Start or Step returned kOk, until the next call of
  /// ListMechanisms, Start or Step.
  bool authenticated() const { return authenticated_; }

  /// While authenticated(): libsasl2's canonical user name (SASL_USERNAME),
  /// with the realm appended when the client gave none, e.g. "alice@cachehost".
  /// Otherwise "".
  const std::string& username() const { return username_; }

 private:
  bool EnsureContext(std::string* error);
  SaslResult Finish(int code, const char* out, unsigned out_length);

  sasl_conn* conn_ = nullptr;
  bool in_progress_ = false;  // a Start answered kContinue; Step may follow
  bool authenticated_ = false;
  std::string username_;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_AUTH_SASL_H_
