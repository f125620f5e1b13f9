// Replication authentication: the HMAC challenge-response of the link and the
// random identifiers of a node, on OpenSSL's libcrypto (a well-kept library
// for the crypto we must not write ourselves).
//
// Each side sends a random nonce in HELLO and answers the peer's nonce with
// AUTH = HMAC-SHA256(secret, "twincache-repl-v1" ‖ peer_nonce ‖ own node_id ‖
// own nonce) (docs/replication.md, "Links"). Binding the answer to the
// sender's own id and nonce keeps one side's AUTH from being reflected back
// as the other's.
#ifndef TWINCACHE_CORE_REPLICATION_REPL_AUTH_H_
#define TWINCACHE_CORE_REPLICATION_REPL_AUTH_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace twincache {

/// Fills `bytes` with cryptographically random bytes (RAND_bytes). Aborts the
/// process if the system has no entropy (as no safe fallback exists).
void RandomBytes(uint8_t* bytes, size_t size);

/// A random node id, never 0.
uint64_t RandomNodeId();

/// The digest of AuthMac and of the link's PSK derivation (repl_tls.h), an
/// OpenSSL 3 algorithm name (EVP_MD_fetch(3)).
inline constexpr std::string_view kReplDigest = "SHA256";

/// Sets *mac to the AUTH value a node with `own_node_id` and `own_nonce` sends
/// in answer to `peer_nonce`: HMAC-`digest`(secret, "twincache-repl-v1" ‖
/// peer_nonce ‖ own_node_id as u64 big-endian ‖ own_nonce) (RFC 2104,
/// OpenSSL's HMAC(3)). Fails closed: false, with *mac zeroed, when any
/// libcrypto call fails or the digest's output is not 32 bytes (a caller
/// must refuse the link; it never compares a MAC it could not compute).
/// `digest` is kReplDigest on the link; tests pass another name (an unknown
/// one makes the fetch fail) to see the failure path. Reentrant.
bool AuthMac(const std::string& secret, const std::array<uint8_t, 32>& peer_nonce, uint64_t own_node_id,
             const std::array<uint8_t, 32>& own_nonce, std::array<uint8_t, 32>* mac,
             std::string_view digest = kReplDigest);

/// Constant-time comparison of two MACs (CRYPTO_memcmp).
bool MacEqual(const std::array<uint8_t, 32>& a, const std::array<uint8_t, 32>& b);

/// Reads the secret from `path`: the file's bytes without trailing newlines.
/// False with *error ("cannot read ...", "... is empty") otherwise. The
/// secret itself never appears in *error.
bool ReadSecretFile(const std::string& path, std::string* secret, std::string* error);

}  // namespace twincache

#endif  // TWINCACHE_CORE_REPLICATION_REPL_AUTH_H_
