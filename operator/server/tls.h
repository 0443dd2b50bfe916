// The serving certificate of secure serving: a self-signed one made at start
// (like controller-runtime's metrics server and the kubelet without a
// configured certificate), or one mounted from a Secret (cert-manager, or a
// certificate of the cluster's own CA).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace healthgate::server {

struct TlsMaterial {
  std::string cert_pem;  // certificate (then chain), PEM
  std::string key_pem;   // private key, PEM (secret: never logged)
};

// A fresh ECDSA P-256 key and a self-signed certificate for `names` (DNS names,
// and IP addresses given as text), valid from an hour ago for `days`. nullopt,
// with `error` set, when OpenSSL fails.
std::optional<TlsMaterial> SelfSignedCertificate(const std::vector<std::string>& names, int days,
                                                 std::string& error);

// Reads a PEM certificate file and its key file and checks that they parse and
// that the key belongs to the certificate. nullopt with `error` naming the
// file and the cause otherwise.
std::optional<TlsMaterial> LoadTlsFiles(const std::string& cert_file, const std::string& key_file,
                                        std::string& error);

}  // namespace healthgate::server
