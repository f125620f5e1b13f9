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

namespace twincache {

/// Fills `bytes` with cryptographically random bytes (RAND_bytes). Aborts the
/// process if the system has no entropy (as no safe fallback exists).
void RandomBytes(uint8_t* bytes, size_t size);

/// A random node id, never 0.
uint64_t RandomNodeId();

/// The AUTH value a node with `own_node_id` and `own_nonce` sends in answer to
/// `peer_nonce`. Pure function.
std::array<uint8_t, 32> AuthMac(const std::string& secret, const std::array<uint8_t, 32>& peer_nonce,
                                uint64_t own_node_id, const std::array<uint8_t, 32>& own_nonce);

/// Constant-time comparison of two MACs (CRYPTO_memcmp).
bool MacEqual(const std::array<uint8_t, 32>& a, const std::array<uint8_t, 32>& b);

/// Reads the secret from `path`: the file's bytes without trailing newlines.
/// False with *error ("cannot read ...", "... is empty") otherwise. The
/// secret itself never appears in *error.
bool ReadSecretFile(const std::string& path, std::string* secret, std::string* error);

}  // namespace twincache

#endif  // TWINCACHE_CORE_REPLICATION_REPL_AUTH_H_
