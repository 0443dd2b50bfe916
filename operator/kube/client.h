// A small Kubernetes API client over libcurl: typed errors, JSON bodies
// (nlohmann::json), generic over group/version/resource/namespace.
//
// Thread-safety: every method may be called from any thread concurrently.
// Requests reuse pooled libcurl easy handles (and so their connections); a
// watch runs on the caller's thread with its own multi handle and returns when
// the stream ends, fails, or its StopSignal fires.
//
// The bearer token and client key never reach a log, an Error or a return
// value; libcurl's verbose mode is never enabled.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "operator/kube/config.h"
#include "operator/kube/error.h"
#include "operator/kube/interface.h"
#include "operator/kube/stop.h"
#include "operator/kube/watch.h"

namespace healthgate::kube {

using nlohmann::json;

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{30'000};  // whole request, except watches
  std::string user_agent = "healthgate";
  std::size_t max_idle_handles = 8;
};

class Client final : public Interface {
 public:
  static Result<std::unique_ptr<Client>> Create(Config config, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Config& config() const { return config_; }

  // GET of an arbitrary API path ("/version", "/apis"): the decoded JSON body.
  Result<json> GetPath(const std::string& path);

  // Interface (see interface.h). The defaults of `w`/`options` are the same.
  Result<json> Get(const ResourceRef& ref, const std::string& name) override;
  // Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1. The
  // response body is wiped once parsed, and annotations are dropped from the
  // result (`kubectl apply` keeps a copy of the whole object, a Secret's data
  // included, in kubectl.kubernetes.io/last-applied-configuration).
  Result<json> GetMetadata(const ResourceRef& ref, const std::string& name) override;
  Result<json> List(const ResourceRef& ref, const ListOptions& options = {}) override;
  Result<json> Create(const ResourceRef& ref, const json& object,
                      const WriteOptions& w = {}) override;
  Result<json> Update(const ResourceRef& ref, const json& object,
                      const WriteOptions& w = {}) override;
  Result<json> UpdateStatus(const ResourceRef& ref, const json& object,
                            const WriteOptions& w = {}) override;
  Result<json> Patch(const ResourceRef& ref, const std::string& name, PatchType type,
                     const json& patch, const WriteOptions& w = {}) override;
  Result<json> PatchStatus(const ResourceRef& ref, const std::string& name, PatchType type,
                           const json& patch, const WriteOptions& w = {}) override;
  // Returns what the server returns: the object (finalizers pending) or a Status.
  Result<json> Delete(const ResourceRef& ref, const std::string& name,
                      const json& options = nullptr) override;
  // The watch runs on this thread with its own libcurl multi handle; `stop`
  // wakes it at once.
  Result<WatchEnd> Watch(const ResourceRef& ref, const WatchOptions& options,
                         const std::function<void(const WatchEvent&)>& on_event,
                         const StopSignal& stop) override;

  // Escapes one URL path segment or query value.
  static std::string Escape(const std::string& s);

 private:
  Client(Config config, ClientOptions options);
  struct Response {
    long code = 0;
    std::string body;
    std::chrono::seconds retry_after{0};  // the Retry-After header, when given in seconds
  };
  Result<Response> Perform(const std::string& method, const std::string& path_and_query,
                           const std::string* body, const std::string& content_type,
                           const char* accept = "application/json");
  Result<json> Call(const std::string& method, const std::string& path_and_query,
                    const std::string* body, const std::string& content_type);
  // Sets TLS, auth, timeouts and headers common to every request. Returns the
  // header list the caller must free after the transfer.
  Result<void*> Prepare(void* easy, const std::string& url, const std::string& content_type,
                        const char* accept = "application/json");
  void* AcquireHandle();
  void ReleaseHandle(void* easy);

  Config config_;
  ClientOptions options_;
  std::mutex pool_mu_;
  std::vector<void*> idle_;  // CURL* easy handles, guarded by pool_mu_
};

std::string WriteQuery(const WriteOptions& w);

}  // namespace healthgate::kube
