#include "probes/http/http_probe.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "probes/http/curl_multi.h"

namespace healthgate::probes {
namespace {

constexpr long kMaxRedirects = 5;
constexpr long kReceiveBufferBytes = 4096;
constexpr std::size_t kMaxCachedRegexes = 256;
constexpr std::size_t kMinRedactLength = 3;

// An owned curl string (curl_url_get output).
struct CurlString {
  char* p = nullptr;
  ~CurlString() { curl_free(p); }
  std::string str() const { return p ? std::string(p) : std::string(); }
};

struct CurlUrl {
  CURLU* h = curl_url();
  ~CurlUrl() { curl_url_cleanup(h); }
  CURLUcode Get(CURLUPart part, std::string* out, unsigned flags = 0) const {
    CurlString s;
    CURLUcode rc = curl_url_get(h, part, &s.p, flags);
    if (rc == CURLUE_OK) *out = s.str();
    return rc;
  }
};

// The parts of the configured URL an attempt needs.
struct ParsedUrl {
  std::string error;       // set when the URL is unusable
  std::string curl_url;    // what curl is given (host replaced by server_name if set)
  std::string host;        // the URL's host as written (IPv6 in brackets)
  std::string sni_host;    // the name curl connects "to": server_name or host
  std::uint16_t port = 0;  // explicit or the scheme's default
  bool explicit_port = false;
  bool https = false;
  std::vector<std::string> userinfo;  // user and password, to scrub from messages
};

ParsedUrl ParseUrl(const HttpConfig& config) {
  ParsedUrl p;
  CurlUrl u;
  CURLUcode rc = curl_url_set(u.h, CURLUPART_URL, config.url.c_str(), 0);
  if (rc != CURLUE_OK) {
    p.error = std::string("invalid URL: ") + curl_url_strerror(rc);
    return p;
  }
  std::string scheme;
  u.Get(CURLUPART_SCHEME, &scheme);
  if (scheme != "http" && scheme != "https") {
    p.error = "invalid URL: scheme must be http or https";
    return p;
  }
  p.https = scheme == "https";
  for (CURLUPart part : {CURLUPART_USER, CURLUPART_PASSWORD}) {
    std::string v;
    if (u.Get(part, &v) == CURLUE_OK && !v.empty()) p.userinfo.push_back(v);
    if (u.Get(part, &v, CURLU_URLDECODE) == CURLUE_OK && !v.empty()) p.userinfo.push_back(v);
  }
  if (u.Get(CURLUPART_HOST, &p.host) != CURLUE_OK || p.host.empty()) {
    p.error = "invalid URL: no host";
    return p;
  }
  std::string port;
  p.explicit_port = u.Get(CURLUPART_PORT, &port) == CURLUE_OK;
  u.Get(CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
  p.port = static_cast<std::uint16_t>(std::stoi(port));
  p.sni_host = p.host;
  if (!config.server_name.empty() && config.server_name != p.host) {
    if (curl_url_set(u.h, CURLUPART_HOST, config.server_name.c_str(), 0) != CURLUE_OK) {
      p.error = "invalid server name";
      return p;
    }
    p.sni_host = config.server_name;
  }
  u.Get(CURLUPART_URL, &p.curl_url);
  return p;
}

// `url` without user name and password (for messages); empty if it does not parse.
std::string WithoutUserinfo(const char* url) {
  CurlUrl u;
  if (url == nullptr || curl_url_set(u.h, CURLUPART_URL, url, 0) != CURLUE_OK) return {};
  curl_url_set(u.h, CURLUPART_USER, nullptr, 0);
  curl_url_set(u.h, CURLUPART_PASSWORD, nullptr, 0);
  curl_url_set(u.h, CURLUPART_OPTIONS, nullptr, 0);
  std::string out;
  u.Get(CURLUPART_URL, &out);
  return out;
}

std::string DescribeExpected(const std::vector<StatusRange>& ranges) {
  std::string out;
  for (const auto& r : ranges) {
    if (!out.empty()) out += ", ";
    out += std::to_string(r.low);
    if (r.high != r.low) out += "-" + std::to_string(r.high);
  }
  return out.empty() ? "none" : out;
}

bool HasLineBreak(const std::string& s) { return s.find_first_of("\r\n") != std::string::npos; }

std::string ToLower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Frees a header list whose strings may hold secret values, wiping them first.
void FreeSecretList(curl_slist* list) {
  for (curl_slist* l = list; l != nullptr; l = l->next) {
    OPENSSL_cleanse(l->data, std::char_traits<char>::length(l->data));
  }
  curl_slist_free_all(list);
}

// Owned by the session; after the session is gone, by the curl multi until the
// easy handle is out of it (see CurlMulti::Discard).
struct HttpState final : CurlTransfer {
  Loop* loop = nullptr;
  const Clock* clock = nullptr;
  std::shared_ptr<CurlMulti> multi;
  HttpConfig config;
  ParsedUrl url;
  std::shared_ptr<const std::regex> regex;
  DoneFn done;
  std::unique_ptr<ResolveHandle> resolving;
  std::shared_ptr<int> alive = std::make_shared<int>(0);  // guards posted failures

  CURL* easy = nullptr;
  CURLSH* share = nullptr;  // private DNS cache: our CURLOPT_RESOLVE entries stay ours
  curl_slist* headers = nullptr;
  curl_slist* resolve = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {0};

  // "dns" until curl has the request; then "connect"/"tls" (asked of curl, see
  // Phase()), "request" once the connection is ready, "response" from the first
  // response byte.
  std::string_view phase = "dns";
  MonoTime start{};
  MonoTime added_at{};
  Timings timings;
  std::string body;
  std::uint64_t body_bytes = 0;
  bool cap_exceeded = false;

  ~HttpState() override {
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (share != nullptr) curl_share_cleanup(share);
    FreeSecretList(headers);
    curl_slist_free_all(resolve);
  }

  std::string_view Phase() const {
    if (phase != "connect") return phase;
    if (!url.https) return phase;
    curl_off_t connected = 0;
    curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connected);
    return connected > 0 || multi->HasConnectedSocket(easy) ? "tls" : "connect";
  }

  // Removes anything secret from a message: URL credentials and header values.
  std::string Scrub(std::string message) const {
    std::vector<std::string> secrets = url.userinfo;
    for (const auto& h : config.headers) secrets.push_back(h.value.reveal());
    for (const auto& s : secrets) {
      if (s.size() < kMinRedactLength) continue;
      for (auto at = message.find(s); at != std::string::npos; at = message.find(s, at)) {
        message.replace(at, s.size(), "***");
        at += 3;
      }
    }
    return message;
  }

  void Finish(Result r) {
    r.message = Scrub(std::move(r.message));
    r.timings = timings;
    DoneFn fn = std::move(done);
    done = nullptr;
    if (fn) fn(std::move(r));  // may destroy the session and this state
  }

  void FailLater(Reason reason, std::string message) {
    std::weak_ptr<int> guard = alive;
    loop->Post([this, guard, reason, message = std::move(message)]() mutable {
      if (guard.expired()) return;
      Finish(Result::Failure(reason, std::move(message)));
    });
  }

  void OnResolved(Resolution r) {
    resolving.reset();
    timings.dns = clock->Now() - start;
    if (r.addresses.empty()) {
      Finish(Result::Failure(Reason::kDns, r.error));
      return;
    }
    std::string error = BeginTransfer(r.addresses);
    if (!error.empty()) Finish(Result::Failure(Reason::kProtocol, error));
  }

  // Returns an error message, or empty once the transfer runs.
  std::string BeginTransfer(const std::vector<Address>& addresses) {
    easy = curl_easy_init();
    share = curl_share_init();
    if (easy == nullptr || share == nullptr) return "cannot create a curl handle";
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);

    Address numeric;
    if (!ParseNumericAddress(url.sni_host, url.port, &numeric)) {
      std::string entry = ToLower(url.sni_host) + ":" + std::to_string(url.port) + ":";
      for (std::size_t i = 0; i < addresses.size(); ++i) {
        if (i > 0) entry += ",";
        const Address& a = addresses[i];
        entry += a.storage.ss_family == AF_INET6 ? "[" + a.ip() + "]" : a.ip();
      }
      resolve = curl_slist_append(nullptr, entry.c_str());
    } else if (url.sni_host != url.host) {
      return "server name override needs a host name, not an address";
    }

    for (const auto& h : config.headers) {
      if (h.name.empty() || HasLineBreak(h.name) || h.name.find(':') != std::string::npos) {
        return "invalid header name";
      }
      if (HasLineBreak(h.value.reveal())) return "header " + h.name + " has a line break";
      // "Name;" is curl's way to send a header with an empty value.
      std::string line = h.value.empty() ? h.name + ";" : h.name + ": " + h.value.reveal();
      headers = curl_slist_append(headers, line.c_str());
      OPENSSL_cleanse(line.data(), line.size());
    }
    if (url.sni_host != url.host) {
      bool has_host = std::any_of(config.headers.begin(), config.headers.end(),
                                  [](const HttpHeader& h) { return ToLower(h.name) == "host"; });
      if (!has_host) {
        std::string host = url.host;
        if (url.explicit_port) host += ":" + std::to_string(url.port);
        headers = curl_slist_append(headers, ("Host: " + host).c_str());
      }
    }
    // No "Expect: 100-continue" round trip for larger bodies.
    headers = curl_slist_append(headers, "Expect:");

    CURL* e = easy;
    curl_easy_setopt(e, CURLOPT_URL, url.curl_url.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SHARE, share);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_PROXY, "");  // never a proxy from the environment
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    // A cancelled redirect lookup must not make curl wait for its resolver thread.
    curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "healthgate");
    // libcurl allocates its receive buffer when the transfer starts and holds it
    // until the handle goes: with its 16 KB default that is most of what an attempt
    // costs while it waits, and thousands wait at once against slow or hung targets
    // (measured: 4 KB instead saves about 10 KB per open attempt). Health endpoints
    // answer in a few hundred bytes; a larger body is read in more pieces.
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, kReceiveBufferBytes);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    if (resolve != nullptr) curl_easy_setopt(e, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, config.follow_redirects ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, kMaxRedirects);
    // Refuses an announced oversized body before reading it (not for HEAD, whose
    // Content-Length describes a body that never comes).
    if (config.method != "HEAD") {
      curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                       static_cast<curl_off_t>(config.max_body_bytes));
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &HttpState::OnBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &HttpState::OnHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, &HttpState::OnPrereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, this);

    if (config.insecure_skip_verify) {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
      if (!config.ca_pem.empty()) {
        curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, this);
        if (curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, &HttpState::AddCa) != CURLE_OK) {
          return "extra CA certificates need libcurl with OpenSSL";
        }
      }
    }

    const std::string& m = config.method;
    if (m == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (m == "POST" || !config.body.empty()) {
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(config.body.size()));
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, config.body.c_str());
      if (m != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m.c_str());
    } else if (m != "GET") {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m.c_str());
    }

    added_at = clock->Now();
    phase = "connect";
    if (multi->Add(e, this) != CURLM_OK) {
      phase = "dns";
      return "cannot start the transfer";
    }
    return {};
  }

  static size_t OnBody(char* data, size_t size, size_t n, void* userp) {
    auto* s = static_cast<HttpState*>(userp);
    std::size_t len = size * n;
    if (s->body_bytes + len > s->config.max_body_bytes) {
      s->cap_exceeded = true;
      return CURL_WRITEFUNC_ERROR;
    }
    s->body_bytes += len;
    if (s->regex) s->body.append(data, len);
    return len;
  }

  static size_t OnHeader(char* data, size_t size, size_t n, void* userp) {
    auto* s = static_cast<HttpState*>(userp);
    std::size_t len = size * n;
    s->phase = "response";
    // A new status line (after a followed redirect or a 1xx): only the final
    // response's body counts.
    if (len >= 5 && std::char_traits<char>::compare(data, "HTTP/", 5) == 0) {
      s->body.clear();
      s->body_bytes = 0;
    }
    return len;
  }

  static int OnPrereq(void* userp, char*, char*, int, int) {
    static_cast<HttpState*>(userp)->phase = "request";
    return CURL_PREREQFUNC_OK;
  }

  // Adds `ca_pem` to the connection's trust store, which curl has already
  // loaded with the system CAs: the extra CA is trusted in addition to them.
  static CURLcode AddCa(CURL*, void* ssl_ctx, void* userp) {
    auto* s = static_cast<HttpState*>(userp);
    const std::string& pem = s->config.ca_pem.reveal();
    X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (bio == nullptr) return CURLE_OUT_OF_MEMORY;
    int added = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      if (X509_STORE_add_cert(store, cert) == 1) ++added;
      X509_free(cert);
    }
    BIO_free(bio);
    ERR_clear_error();  // the end of the PEM data is reported as an error
    return added > 0 ? CURLE_OK : CURLE_SSL_CACERT_BADFILE;
  }

  std::optional<Duration> Since(CURLINFO info) const {
    curl_off_t us = 0;
    if (curl_easy_getinfo(easy, info, &us) != CURLE_OK || us <= 0) return std::nullopt;
    return (added_at - start) + std::chrono::microseconds(us);
  }

  std::string Detail(CURLcode code) const {
    return errbuf[0] != '\0' ? std::string(errbuf) : std::string(curl_easy_strerror(code));
  }

  Result Classify(CURLcode code) const {
    switch (code) {
      case CURLE_COULDNT_RESOLVE_HOST:
        return Result::Failure(Reason::kDns, "DNS: " + Detail(code));
      case CURLE_COULDNT_CONNECT:
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
        return Result::Failure(Reason::kConnect, "connect: " + Detail(code));
      case CURLE_OPERATION_TIMEDOUT:
        return Result::Failure(Reason::kTimeout, Detail(code));
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_ISSUER_ERROR:
      case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      case CURLE_SSL_INVALIDCERTSTATUS:
      case CURLE_SSL_CRL_BADFILE:
      case CURLE_SSL_ENGINE_INITFAILED:
      case CURLE_USE_SSL_FAILED: {
        long verify = X509_V_OK;
        curl_easy_getinfo(easy, CURLINFO_SSL_VERIFYRESULT, &verify);
        if (verify != X509_V_OK) {
          return Result::Failure(Reason::kTls, std::string("TLS: certificate verify failed: ") +
                                                   X509_verify_cert_error_string(verify));
        }
        if (code == CURLE_SSL_CACERT_BADFILE && !config.ca_pem.empty()) {
          return Result::Failure(Reason::kTls, "TLS: no certificate in the extra CA PEM");
        }
        return Result::Failure(Reason::kTls, "TLS: " + Detail(code));
      }
      case CURLE_TOO_MANY_REDIRECTS:
        return Result::Failure(Reason::kProtocol,
                               "more than " + std::to_string(kMaxRedirects) + " redirects");
      default:
        return Result::Failure(Reason::kProtocol, "HTTP: " + Detail(code));
    }
  }

  std::string CapMessage() const {
    return "response body exceeds the limit of " + std::to_string(config.max_body_bytes) + " bytes";
  }

  void OnCurlDone(CURLcode code) override {
    phase = "done";
    timings.connect = Since(CURLINFO_CONNECT_TIME_T);
    if (url.https) timings.tls = Since(CURLINFO_APPCONNECT_TIME_T);
    timings.first_byte = Since(CURLINFO_STARTTRANSFER_TIME_T);
    if (cap_exceeded || code == CURLE_FILESIZE_EXCEEDED) {
      Finish(Result::Failure(Reason::kProtocol, CapMessage()));
      return;
    }
    if (code != CURLE_OK) {
      Finish(Classify(code));
      return;
    }
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    std::string head = "HTTP " + std::to_string(status);
    bool expected =
        std::any_of(config.expect_status.begin(), config.expect_status.end(),
                    [status](const StatusRange& r) { return status >= r.low && status <= r.high; });
    if (!expected) {
      std::string message = head + ", expected " + DescribeExpected(config.expect_status);
      char* location = nullptr;
      if (curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &location) == CURLE_OK &&
          location != nullptr) {
        std::string shown = WithoutUserinfo(location);
        if (!shown.empty()) message += " (redirect to " + shown + ")";
      }
      Finish(Result::Failure(Reason::kAssertion, message));
      return;
    }
    if (regex) {
      bool matched = false;
      try {
        matched = std::regex_search(body, *regex);
      } catch (const std::regex_error&) {
        Finish(Result::Failure(Reason::kAssertion, head + ", body regex too complex for the body"));
        return;
      }
      if (!matched) {
        Finish(Result::Failure(Reason::kAssertion,
                               head + ", body does not match /" + *config.body_regex + "/"));
        return;
      }
    }
    Finish(Result::Success(head));
  }
};

class HttpSession final : public ProbeSession {
 public:
  explicit HttpSession(HttpState* s) : s_(s) {}
  ~HttpSession() override {
    s_->resolving.reset();
    s_->done = nullptr;
    s_->alive.reset();
    if (s_->easy != nullptr) {
      // The multi removes the handle (later, if curl is on the stack) and frees us.
      HttpState* s = s_;
      std::shared_ptr<CurlMulti> multi = s->multi;
      multi->Discard(s->easy, [s] { delete s; });
    } else {
      delete s_;
    }
  }
  std::string_view Phase() const override { return s_->Phase(); }

 private:
  HttpState* s_;
};

}  // namespace

HttpProber::HttpProber(Loop& loop, Resolver& resolver) : loop_(loop), resolver_(resolver) {}

HttpProber::~HttpProber() = default;

const HttpProber::CompiledRegex& HttpProber::Compile(const std::string& pattern) {
  auto it = regexes_.find(pattern);
  if (it != regexes_.end()) return it->second;
  // Patterns only change with specs; the bound keeps a churning spec from
  // growing the cache forever.
  if (regexes_.size() >= kMaxCachedRegexes) regexes_.clear();
  CompiledRegex compiled;
  try {
    compiled.regex = std::make_shared<const std::regex>(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    compiled.error = std::string("invalid body regex: ") + e.what();
  }
  return regexes_.emplace(pattern, std::move(compiled)).first->second;
}

std::unique_ptr<ProbeSession> HttpProber::Start(const HttpConfig& config, DoneFn done) {
  // Created on first use, on the loop thread: libuv handles may only be
  // initialised there once the loop runs.
  if (!multi_) multi_ = CurlMulti::Create(loop_.raw());
  auto* s = new HttpState;
  s->loop = &loop_;
  s->clock = &loop_.clock();
  s->multi = multi_;
  s->config = config;
  s->done = std::move(done);
  s->start = loop_.clock().Now();
  auto session = std::make_unique<HttpSession>(s);

  s->url = ParseUrl(config);
  if (!s->url.error.empty()) {
    s->FailLater(Reason::kProtocol, s->url.error);
    return session;
  }
  if (config.body_regex) {
    const CompiledRegex& compiled = Compile(*config.body_regex);
    if (!compiled.regex) {
      s->FailLater(Reason::kAssertion, compiled.error);
      return session;
    }
    s->regex = compiled.regex;
  }
  s->resolving = resolver_.Resolve(s->url.host, s->url.port,
                                   [s](Resolution r) { s->OnResolved(std::move(r)); });
  return session;
}

}  // namespace healthgate::probes
