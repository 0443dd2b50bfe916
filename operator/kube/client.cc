#include "operator/kube/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <optional>
#include <string_view>
#include <utility>

namespace healthgate::kube {
namespace {

constexpr std::size_t kMaxErrorBody = 1 << 20;

// Keeps the Retry-After header's delay when it is given in seconds (the form the
// API server uses with 429 and some 5xx answers).
size_t ReadRetryAfter(char* data, size_t size, size_t nmemb, void* user) {
  const std::string_view line(data, size * nmemb);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    bool match = true;
    for (std::size_t i = 0; i < kName.size() && match; ++i)
      match = std::tolower(static_cast<unsigned char>(line[i])) == kName[i];
    if (match) {
      long seconds = 0;
      bool digits = false;
      for (char ch : line.substr(kName.size())) {
        if (ch == ' ' || ch == '\t') continue;
        if (ch < '0' || ch > '9') break;
        digits = true;
        if (seconds < 86'400) seconds = seconds * 10 + (ch - '0');
      }
      if (digits) *static_cast<std::chrono::seconds*>(user) = std::chrono::seconds(seconds);
    }
  }
  return size * nmemb;
}

size_t AppendToString(char* data, size_t size, size_t nmemb, void* user) {
  static_cast<std::string*>(user)->append(data, size * nmemb);
  return size * nmemb;
}

void AddQuery(std::string& q, const char* key, const std::string& value) {
  if (value.empty()) return;
  q += q.empty() ? '?' : '&';
  q += key;
  q += '=';
  q += Client::Escape(value);
}

std::string CurlFailure(CURLcode rc, const char* errbuf) {
  std::string msg = curl_easy_strerror(rc);
  if (errbuf != nullptr && errbuf[0] != '\0') msg += std::string(" (") + errbuf + ")";
  return msg;
}

const char* PatchContentType(PatchType t) {
  switch (t) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kApply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

std::string NameOf(const json& object) {
  if (!object.is_object()) return "";
  auto md = object.find("metadata");
  if (md == object.end() || !md->is_object()) return "";
  auto n = md->find("name");
  return n != md->end() && n->is_string() ? n->get<std::string>() : "";
}

// State of one watch transfer, touched only by libcurl callbacks on the
// watching thread.
struct WatchState {
  CURL* easy = nullptr;
  LineFramer framer;
  const std::function<void(const WatchEvent&)>* on_event = nullptr;
  long code = 0;
  std::string error_body;
  std::optional<Error> stream_error;
  std::uint64_t events = 0;
};

size_t WatchWrite(char* data, size_t size, size_t nmemb, void* user) {
  auto* st = static_cast<WatchState*>(user);
  const size_t n = size * nmemb;
  if (st->code == 0) curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &st->code);
  if (st->code != 200) {
    if (st->error_body.size() < kMaxErrorBody) st->error_body.append(data, n);
    return n;
  }
  const bool ok = st->framer.Feed(std::string_view(data, n), [st](std::string_view line) {
    auto ev = ParseWatchEvent(line);
    if (!ev) {
      st->stream_error = ev.error();
      return false;
    }
    ++st->events;
    try {
      (*st->on_event)(ev.value());
    } catch (const std::exception& e) {
      // Never let an exception unwind through libcurl.
      st->stream_error = DecodeError(std::string("watch event handler threw: ") + e.what());
      return false;
    }
    if (ev->type == WatchEvent::Type::kError) {
      st->stream_error = ApiErrorFromStatus(0, ev->object);
      return false;
    }
    return true;
  });
  if (!ok && !st->stream_error) {
    st->stream_error = DecodeError("watch event larger than the framer's limit");
  }
  return ok ? n : 0;  // 0 aborts the transfer
}

}  // namespace

std::string Client::Escape(const std::string& s) {
  char* out = curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size()));
  if (out == nullptr) return "";
  std::string r(out);
  curl_free(out);
  return r;
}

std::string ResourceRef::Path(const std::string& name, const std::string& subresource) const {
  std::string p = group.empty() ? "/api/" + Client::Escape(version)
                                : "/apis/" + Client::Escape(group) + "/" + Client::Escape(version);
  if (!ns.empty()) p += "/namespaces/" + Client::Escape(ns);
  p += "/" + Client::Escape(resource);
  if (!name.empty()) p += "/" + Client::Escape(name);
  if (!subresource.empty()) p += "/" + Client::Escape(subresource);
  return p;
}

std::string WriteQuery(const WriteOptions& w) {
  std::string q;
  AddQuery(q, "fieldManager", w.field_manager);
  if (w.force) AddQuery(q, "force", "true");
  if (w.dry_run) AddQuery(q, "dryRun", "All");
  return q;
}

Result<std::unique_ptr<Client>> Client::Create(Config config, ClientOptions options) {
  if (config.server.empty()) return ConfigError("no API server address");
  // Reference-counted and thread-safe in libcurl >= 7.84.
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    return TransportError("libcurl initialisation failed");
  }
  return std::unique_ptr<Client>(new Client(std::move(config), std::move(options)));
}

Client::Client(Config config, ClientOptions options)
    : config_(std::move(config)), options_(std::move(options)) {}

Client::~Client() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
  curl_global_cleanup();
}

void* Client::AcquireHandle() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void Client::ReleaseHandle(void* easy) {
  if (easy == nullptr) return;
  // Reset drops options but keeps the handle's connection cache for reuse.
  curl_easy_reset(static_cast<CURL*>(easy));
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (idle_.size() < options_.max_idle_handles) {
    idle_.push_back(easy);
    return;
  }
  curl_easy_cleanup(static_cast<CURL*>(easy));
}

Result<void*> Client::Prepare(void* handle, const std::string& url, const std::string& content_type,
                              const char* accept) {
  CURL* easy = static_cast<CURL*>(handle);
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 30L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 10L);
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);

  // TLS: verification is always on unless the kubeconfig explicitly disables it.
  const long verify = config_.insecure_skip_tls_verify ? 0L : 1L;
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, verify);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, verify * 2);
  if (!config_.ca_pem.empty()) {
    curl_blob ca{config_.ca_pem.data(), config_.ca_pem.size(), CURL_BLOB_COPY};
    if (curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &ca) != CURLE_OK) {
      return TransportError("libcurl does not support in-memory CA certificates");
    }
    // Trust only the configured CA, not the system bundle as well.
    curl_easy_setopt(easy, CURLOPT_CAINFO, nullptr);
    curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
  }
  if (!config_.client_cert_pem.empty()) {
    curl_blob cert{config_.client_cert_pem.data(), config_.client_cert_pem.size(), CURL_BLOB_COPY};
    curl_blob key{config_.client_key_pem.data(), config_.client_key_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
    if (curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &cert) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &key) != CURLE_OK) {
      return TransportError("libcurl does not support in-memory client certificates");
    }
  }

  curl_slist* headers = curl_slist_append(nullptr, (std::string("Accept: ") + accept).c_str());
  if (!content_type.empty()) {
    headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  }
  if (config_.token) {
    auto token = config_.token->Token();
    if (!token) {
      curl_slist_free_all(headers);
      return token.error();
    }
    std::string h = "Authorization: Bearer " + token.value();
    headers = curl_slist_append(headers, h.c_str());
    std::fill(h.begin(), h.end(), '\0');  // do not leave a copy of the token behind
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  return static_cast<void*>(headers);
}

Result<Client::Response> Client::Perform(const std::string& method,
                                         const std::string& path_and_query, const std::string* body,
                                         const std::string& content_type, const char* accept) {
  CURL* easy = static_cast<CURL*>(AcquireHandle());
  if (easy == nullptr) return TransportError("curl_easy_init failed");
  auto headers = Prepare(easy, config_.server + path_and_query, content_type, accept);
  if (!headers) {
    ReleaseHandle(easy);
    return headers.error();
  }
  Response resp;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, ReadRetryAfter);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &resp.retry_after);
  if (method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (body != nullptr) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body->data());
  }
  const CURLcode rc = curl_easy_perform(easy);
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp.code);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(static_cast<curl_slist*>(headers.value()));
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, nullptr);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, nullptr);
  std::string failure = rc == CURLE_OK ? "" : CurlFailure(rc, errbuf);
  ReleaseHandle(easy);
  if (rc != CURLE_OK) {
    return TransportError(method + " " + path_and_query.substr(0, path_and_query.find('?')) + ": " +
                          failure);
  }
  return resp;
}

Result<json> Client::Call(const std::string& method, const std::string& path_and_query,
                          const std::string* body, const std::string& content_type) {
  auto resp = Perform(method, path_and_query, body, content_type);
  if (!resp) return resp.error();
  if (resp->code < 200 || resp->code >= 300) {
    Error e = ApiErrorFromBody(resp->code, resp->body);
    e.retry_after = std::max(e.retry_after, resp->retry_after);
    return e;
  }
  if (resp->body.empty()) return json(nullptr);
  auto doc = json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return DecodeError(method + " " + path_and_query.substr(0, path_and_query.find('?')) +
                       ": response is not JSON");
  }
  return doc;
}

Result<json> Client::GetPath(const std::string& path) { return Call("GET", path, nullptr, ""); }

Result<json> Client::Get(const ResourceRef& ref, const std::string& name) {
  if (name.empty()) return ConfigError("Get needs a name");
  return Call("GET", ref.Path(name), nullptr, "");
}

Result<json> Client::GetMetadata(const ResourceRef& ref, const std::string& name) {
  if (name.empty()) return ConfigError("GetMetadata needs a name");
  const std::string path = ref.Path(name);
  auto resp = Perform("GET", path, nullptr, "",
                      "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1");
  if (!resp) return resp.error();
  // Whatever the server put in the body (annotations may hold a copy of the
  // whole object) is not left behind in freed memory.
  struct Wipe {
    std::string& s;
    ~Wipe() { std::fill(s.begin(), s.end(), '\0'); }
  } wipe{resp->body};
  if (resp->code < 200 || resp->code >= 300) {
    Error e = ApiErrorFromBody(resp->code, resp->body);
    e.retry_after = std::max(e.retry_after, resp->retry_after);
    return e;
  }
  auto doc = json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("metadata") ||
      !doc["metadata"].is_object()) {
    return DecodeError("GET " + path + ": response is not object metadata");
  }
  if (doc.value("kind", "") != "PartialObjectMetadata") {
    // A server that ignored the Accept header sent the whole object: keep only
    // its metadata.
    doc = json{{"apiVersion", "meta.k8s.io/v1"},
               {"kind", "PartialObjectMetadata"},
               {"metadata", std::move(doc["metadata"])}};
  }
  doc["metadata"].erase("annotations");
  doc["metadata"].erase("managedFields");
  return doc;
}

Result<json> Client::List(const ResourceRef& ref, const ListOptions& o) {
  std::string q;
  AddQuery(q, "labelSelector", o.label_selector);
  AddQuery(q, "fieldSelector", o.field_selector);
  AddQuery(q, "resourceVersion", o.resource_version);
  AddQuery(q, "resourceVersionMatch", o.resource_version_match);
  if (o.limit > 0) AddQuery(q, "limit", std::to_string(o.limit));
  AddQuery(q, "continue", o.continue_token);
  return Call("GET", ref.Path() + q, nullptr, "");
}

Result<json> Client::Create(const ResourceRef& ref, const json& object, const WriteOptions& w) {
  const std::string body = object.dump();
  return Call("POST", ref.Path() + WriteQuery(w), &body, "application/json");
}

Result<json> Client::Update(const ResourceRef& ref, const json& object, const WriteOptions& w) {
  const std::string name = NameOf(object);
  if (name.empty()) return ConfigError("Update needs metadata.name");
  const std::string body = object.dump();
  return Call("PUT", ref.Path(name) + WriteQuery(w), &body, "application/json");
}

Result<json> Client::UpdateStatus(const ResourceRef& ref, const json& object,
                                  const WriteOptions& w) {
  const std::string name = NameOf(object);
  if (name.empty()) return ConfigError("UpdateStatus needs metadata.name");
  const std::string body = object.dump();
  return Call("PUT", ref.Path(name, "status") + WriteQuery(w), &body, "application/json");
}

Result<json> Client::Patch(const ResourceRef& ref, const std::string& name, PatchType type,
                           const json& patch, const WriteOptions& w) {
  if (type == PatchType::kApply && w.field_manager.empty()) {
    return ConfigError("server-side apply needs a field manager");
  }
  const std::string body = patch.dump();  // JSON is valid YAML for apply patches
  return Call("PATCH", ref.Path(name) + WriteQuery(w), &body, PatchContentType(type));
}

Result<json> Client::PatchStatus(const ResourceRef& ref, const std::string& name, PatchType type,
                                 const json& patch, const WriteOptions& w) {
  if (type == PatchType::kApply && w.field_manager.empty()) {
    return ConfigError("server-side apply needs a field manager");
  }
  const std::string body = patch.dump();
  return Call("PATCH", ref.Path(name, "status") + WriteQuery(w), &body, PatchContentType(type));
}

Result<json> Client::Delete(const ResourceRef& ref, const std::string& name, const json& options) {
  if (name.empty()) return ConfigError("Delete needs a name");
  if (options.is_null()) return Call("DELETE", ref.Path(name), nullptr, "");
  const std::string body = options.dump();
  return Call("DELETE", ref.Path(name), &body, "application/json");
}

Result<WatchEnd> Client::Watch(const ResourceRef& ref, const WatchOptions& o,
                               const std::function<void(const WatchEvent&)>& on_event,
                               const StopSignal& stop) {
  std::string q = "?watch=1";
  AddQuery(q, "resourceVersion", o.resource_version);
  AddQuery(q, "labelSelector", o.label_selector);
  AddQuery(q, "fieldSelector", o.field_selector);
  if (o.allow_bookmarks) AddQuery(q, "allowWatchBookmarks", "true");
  if (o.timeout.count() > 0) AddQuery(q, "timeoutSeconds", std::to_string(o.timeout.count()));

  // A dedicated handle: a watch holds its connection for minutes.
  CURL* easy = curl_easy_init();
  if (easy == nullptr) return TransportError("curl_easy_init failed");
  auto headers = Prepare(easy, config_.server + ref.Path() + q, "");
  if (!headers) {
    curl_easy_cleanup(easy);
    return headers.error();
  }
  WatchState st;
  st.easy = easy;
  st.on_event = &on_event;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, WatchWrite);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &st);
  if (o.timeout.count() > 0) {
    // Safety net for a silently dead connection: the server ends the stream
    // at timeoutSeconds, so anything much later is a hung transfer.
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                     static_cast<long>((o.timeout + std::chrono::seconds(30)).count() * 1000));
  }

  CURLM* multi = curl_multi_init();
  curl_multi_add_handle(multi, easy);
  bool stopped = !stop.AttachMulti(multi);
  CURLcode result = CURLE_OK;
  bool done = false;
  while (!stopped && !done) {
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi, &running);
    if (mc != CURLM_OK) {
      result = CURLE_RECV_ERROR;
      break;
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE) {
        result = msg->data.result;
        done = true;
      }
    }
    if (done) break;
    // libcurl shortens the wait to its own next timer; Stop() wakes it early.
    curl_multi_poll(multi, nullptr, 0, 5000, nullptr);
    stopped = stop.stopped();
  }
  stop.DetachMulti();
  curl_multi_remove_handle(multi, easy);
  curl_multi_cleanup(multi);
  if (st.code == 0) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &st.code);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(static_cast<curl_slist*>(headers.value()));
  const std::string failure = result == CURLE_OK ? "" : CurlFailure(result, errbuf);
  curl_easy_cleanup(easy);

  if (stopped) return Error{ErrorKind::kStopped, 0, Reason::kUnknown, "", "watch stopped"};
  if (st.stream_error) return *st.stream_error;
  if (st.code != 0 && st.code != 200) return ApiErrorFromBody(st.code, st.error_body);
  if (result != CURLE_OK) return TransportError("watch " + ref.Path() + ": " + failure);
  return WatchEnd{st.events};
}

}  // namespace healthgate::kube
