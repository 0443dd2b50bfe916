// Where the API server is and how to authenticate to it: in-cluster service
// account files, or a kubeconfig file. Loading never throws; a bad or
// unsupported config is an ErrorKind::kConfig error naming the file and field
// (never a value: tokens and keys stay out of messages).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "operator/kube/error.h"

namespace healthgate::kube {

// Injected monotonic time (the token file is re-read at least this often).
using NowFn = std::function<std::chrono::steady_clock::time_point()>;
// Injected environment lookup (tests pass a map, production std::getenv).
using GetenvFn = std::function<std::optional<std::string>(const std::string&)>;

NowFn SteadyNow();
GetenvFn ProcessEnv();

// Supplies the bearer token for each request. Thread-safe.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  virtual Result<std::string> Token() = 0;
};

// A token fixed at load time (kubeconfig `token`).
class StaticTokenSource final : public TokenSource {
 public:
  explicit StaticTokenSource(std::string token) : token_(std::move(token)) {}
  Result<std::string> Token() override { return token_; }

 private:
  std::string token_;
};

// A token read from a file and re-read when the file changes (mtime, inode or
// size; projected service-account tokens are rotated by an atomic symlink swap)
// or when `refresh` has passed since the last read, whichever comes first.
// A failed re-read keeps serving the last good token.
class FileTokenSource final : public TokenSource {
 public:
  FileTokenSource(std::string path, NowFn now,
                  std::chrono::seconds refresh = std::chrono::minutes(1));
  Result<std::string> Token() override;
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  const NowFn now_;
  const std::chrono::seconds refresh_;
  std::mutex mu_;
  std::string token_;  // guarded by mu_; empty until the first good read
  std::chrono::steady_clock::time_point read_at_{};
  struct timespec mtime_ {};
  ino_t ino_ = 0;
  off_t size_ = -1;
};

struct Config {
  std::string server;  // "https://host:port" plus an optional path prefix, no trailing '/'
  std::string ca_pem;  // trusted CAs (PEM); empty means the system trust store
  bool insecure_skip_tls_verify = false;
  std::shared_ptr<TokenSource> token;  // null: no bearer token
  std::string client_cert_pem;         // client certificate chain (PEM), with client_key_pem
  std::string client_key_pem;          // a credential: never logged
  std::string default_namespace = "default";
  std::string description;  // e.g. "kubeconfig /path (context ctx)" or "in-cluster"; no secrets
};

struct InClusterPaths {
  std::string token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};

// In-cluster: KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT, the
// service-account token (re-read as it rotates), its CA and namespace.
Result<Config> LoadInClusterConfig(const InClusterPaths& paths, const GetenvFn& env, NowFn now);

// Parses a kubeconfig document. `context` empty means current-context. Relative
// file fields resolve against `base_dir` (the kubeconfig's directory, as kubectl
// does). exec and auth-provider users are reported as unsupported.
Result<Config> ParseKubeconfig(std::string_view yaml, const std::string& base_dir,
                               const std::string& context, NowFn now);
Result<Config> LoadKubeconfigFile(const std::string& path, const std::string& context, NowFn now);

// The operator's rule: `kubeconfig_flag` when given, else the first file of
// KUBECONFIG (a ':'-separated list), else in-cluster.
Result<Config> LoadConfig(const std::string& kubeconfig_flag, const GetenvFn& env, NowFn now,
                          const InClusterPaths& paths = {});

// Standard base64 (padding optional, whitespace ignored). nullopt when malformed.
std::optional<std::string> DecodeBase64(std::string_view in);

// Whole file; kConfig error naming the path when unreadable.
Result<std::string> ReadFile(const std::string& path);

}  // namespace healthgate::kube
