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
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "probes/engine/linger.h"
#include "probes/http/curl_multi.h"
#include "probes/http/reply.h"

namespace healthgate::probes {
namespace {

constexpr int kMaxRedirects = 5;
constexpr long kReceiveBufferBytes = 4096;
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
  std::string url;         // as given (may hold user:password@)
  std::string curl_url;    // what curl is given (host replaced by server_name if set)
  std::string host;        // the URL's host as written (IPv6 in brackets)
  std::string sni_host;    // the name curl connects "to": server_name or host
  std::uint16_t port = 0;  // explicit or the scheme's default
  bool explicit_port = false;
  bool https = false;
  std::vector<std::string> userinfo;  // user and password, to scrub from messages
};

std::string ToLower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// `server_name`: the TLS name override, empty for none.
ParsedUrl ParseUrl(const std::string& url, const std::string& server_name) {
  ParsedUrl p;
  p.url = url;
  CurlUrl u;
  CURLUcode rc = curl_url_set(u.h, CURLUPART_URL, url.c_str(), 0);
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
  if (!server_name.empty() && server_name != p.host) {
    if (curl_url_set(u.h, CURLUPART_HOST, server_name.c_str(), 0) != CURLUE_OK) {
      p.error = "invalid server name";
      return p;
    }
    p.sni_host = server_name;
  }
  u.Get(CURLUPART_URL, &p.curl_url);
  return p;
}

// Whether two URLs have the same origin: scheme, host and port.
bool SameOrigin(const ParsedUrl& a, const ParsedUrl& b) {
  return a.https == b.https && ToLower(a.host) == ToLower(b.host) && a.port == b.port;
}

// Headers that carry credentials whatever their source: never sent to another
// origin. (Proxy-Authorization too, though no proxy is used.)
bool IsCredentialHeader(const std::string& name) {
  std::string n = ToLower(name);
  return n == "authorization" || n == "cookie" || n == "proxy-authorization";
}

bool HasLineBreak(const std::string& s) { return s.find_first_of("\r\n") != std::string::npos; }

bool Contains(const char* haystack, const char* needle) {
  return std::strstr(haystack, needle) != nullptr;
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
//
// Redirects are followed here, not by curl: curl sends CURLOPT_HTTPHEADER headers
// to every host it is redirected to, so each hop is a new transfer whose headers
// are rebuilt for the hop's origin (credentials only to the original one).
struct HttpState final : CurlTransfer {
  Loop* loop = nullptr;
  const Clock* clock = nullptr;
  Resolver* resolver = nullptr;
  std::shared_ptr<const AddressPolicy> policy;
  std::shared_ptr<CurlMulti> multi;
  HttpConfig config;
  ParsedUrl origin;  // the configured URL
  ParsedUrl url;     // the current hop's URL (origin until a redirect is followed)
  int redirects = 0;
  std::string method;      // the current hop's method (a 303 turns POST into GET)
  bool send_body = false;  // the current hop sends config.body
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
  HttpReply reply;  // the current hop's response: body under the cap, header state
  // This hop: why the policy refused the first address it refused, and how many
  // sockets were opened.
  std::string denied;
  int sockets_opened = 0;

  ~HttpState() override { ReleaseTransfer(); }

  // Frees the current hop's curl handles (outside the multi).
  void ReleaseTransfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (share != nullptr) curl_share_cleanup(share);
    FreeSecretList(headers);
    curl_slist_free_all(resolve);
    easy = nullptr;
    share = nullptr;
    headers = nullptr;
    resolve = nullptr;
    errbuf[0] = '\0';
    denied.clear();
    sockets_opened = 0;
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
    std::vector<std::string> secrets = origin.userinfo;
    secrets.insert(secrets.end(), url.userinfo.begin(), url.userinfo.end());
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

  void Resolve() {
    phase = "dns";
    resolving =
        resolver->Resolve(url.host, url.port, [this](Resolution r) { OnResolved(std::move(r)); });
  }

  void OnResolved(Resolution r) {
    resolving.reset();
    if (!timings.dns) timings.dns = clock->Now() - start;
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

    // Credentials go to the configured origin only: on a redirect elsewhere,
    // headers from Secrets, Authorization and Cookie are left out (and a custom
    // Host, which names the original host).
    const bool at_origin = SameOrigin(url, origin);
    bool has_host = false;
    for (const auto& h : config.headers) {
      if (h.name.empty() || HasLineBreak(h.name) || h.name.find(':') != std::string::npos) {
        return "invalid header name";
      }
      if (HasLineBreak(h.value.reveal())) return "header " + h.name + " has a line break";
      const bool is_host = ToLower(h.name) == "host";
      if (!at_origin && (h.from_secret || IsCredentialHeader(h.name) || is_host)) continue;
      has_host = has_host || is_host;
      // "Name;" is curl's way to send a header with an empty value.
      std::string line = h.value.empty() ? h.name + ";" : h.name + ": " + h.value.reveal();
      headers = curl_slist_append(headers, line.c_str());
      OPENSSL_cleanse(line.data(), line.size());
    }
    if (url.sni_host != url.host && !has_host) {
      std::string host = url.host;
      if (url.explicit_port) host += ":" + std::to_string(url.port);
      headers = curl_slist_append(headers, ("Host: " + host).c_str());
    }
    // No "Expect: 100-continue" round trip for larger bodies.
    headers = curl_slist_append(headers, "Expect:");

    CURL* e = easy;
    curl_easy_setopt(e, CURLOPT_URL, url.curl_url.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SHARE, share);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_PROXY, "");  // never a proxy from the environment
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    // Every probe is a fresh connection that we close first: no TIME_WAIT here.
    curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, &HttpState::OnSockopt);
    // Every socket curl opens, for every address it tries, passes the policy
    // first (this hop's transfer; each redirect hop is a transfer of its own).
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &HttpState::OnOpenSocket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "healthgate");
    // libcurl allocates its receive buffer when the transfer starts and holds it
    // until the handle goes: with its 16 KB default that is most of what an attempt
    // costs while it waits, and thousands wait at once against slow or hung targets
    // (measured: 4 KB instead saves about 10 KB per open attempt). Health endpoints
    // answer in a few hundred bytes; a larger body is read in more pieces.
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, kReceiveBufferBytes);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    if (resolve != nullptr) curl_easy_setopt(e, CURLOPT_RESOLVE, resolve);
    // Redirects are ours to follow (see OnCurlDone).
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    // Refuses an announced oversized body before reading it (not for HEAD, whose
    // Content-Length describes a body that never comes).
    if (method != "HEAD") {
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

    const std::string& m = method;
    if (m == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (send_body) {
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
    const std::size_t len = size * n;
    if (!s->reply.OnBody(std::string_view(data, len), s->config)) return CURL_WRITEFUNC_ERROR;
    return len;
  }

  static size_t OnHeader(char* data, size_t size, size_t n, void* userp) {
    auto* s = static_cast<HttpState*>(userp);
    const std::size_t len = size * n;
    s->phase = "response";
    s->reply.OnHeader(std::string_view(data, len));
    return len;
  }

  static int OnSockopt(void*, curl_socket_t fd, curlsocktype) {
    SetLingerZero(fd);
    return CURL_SOCKOPT_OK;
  }

  static curl_socket_t OnOpenSocket(void* userp, curlsocktype, curl_sockaddr* address) {
    auto* s = static_cast<HttpState*>(userp);
    std::string why = s->policy->Refusal(&address->addr);
    if (!why.empty()) {
      if (s->denied.empty()) s->denied = std::move(why);
      return CURL_SOCKET_BAD;  // curl tries the next address, or fails to connect
    }
    ++s->sockets_opened;
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
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

  // A failed certificate check, in words: the X509 verify code where OpenSSL set
  // one, else curl's own check (the host name is checked by curl, after OpenSSL).
  std::string TlsVerifyMessage(long verify) const {
    const std::string prefix = "TLS: certificate verify failed: ";
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || Contains(errbuf, "subject name") ||
        Contains(errbuf, "does not match target host")) {
      return prefix + "hostname mismatch: the certificate is not valid for " + url.sni_host;
    }
    switch (verify) {
      case X509_V_OK:
      case X509_V_ERR_UNSPECIFIED:
        return "TLS: " + Detail(CURLE_PEER_FAILED_VERIFICATION);
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return prefix + "unknown CA (" + X509_verify_cert_error_string(verify) + ")";
      default:
        // e.g. "self-signed certificate", "certificate has expired",
        // "certificate is not yet valid".
        return prefix + X509_verify_cert_error_string(verify);
    }
  }

  // `during`: the phase the transfer failed in.
  Result Classify(CURLcode code, std::string_view during) const {
    switch (code) {
      case CURLE_COULDNT_RESOLVE_HOST:
        return Result::Failure(Reason::kDns, "DNS: " + Detail(code));
      case CURLE_COULDNT_CONNECT:
        return Result::Failure(Reason::kConnect, "connect: " + Detail(code));
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR: {
        // A socket error (curl keeps its errno) is the connection's fault; without
        // one, curl refused what the peer sent: bad chunked encoding, oversized
        // response headers and the like.
        long os_errno = 0;
        curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno == ECONNRESET) {
          return Result::Failure(Reason::kConnect,
                                 "connection reset by peer during " + std::string(during));
        }
        if (os_errno != 0) return Result::Failure(Reason::kConnect, "connect: " + Detail(code));
        return Result::Failure(Reason::kProtocol, "HTTP: " + Detail(code));
      }
      case CURLE_OUT_OF_MEMORY:
        // What curl says when a response header line passes its 100 KB limit.
        if (reply.in_headers)
          return Result::Failure(Reason::kProtocol, "HTTP: response header too large");
        return Result::Failure(Reason::kProtocol, "HTTP: " + Detail(code));
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
        if (verify != X509_V_OK || code == CURLE_PEER_FAILED_VERIFICATION) {
          return Result::Failure(Reason::kTls, TlsVerifyMessage(verify));
        }
        if (code == CURLE_SSL_CACERT_BADFILE && !config.ca_pem.empty()) {
          return Result::Failure(Reason::kTls, "TLS: no certificate in the extra CA PEM");
        }
        return Result::Failure(Reason::kTls, "TLS: " + Detail(code));
      }
      default:
        return Result::Failure(Reason::kProtocol, "HTTP: " + Detail(code));
    }
  }

  // The Location header of the response just received, or empty.
  std::string Location() const {
    curl_header* h = nullptr;
    if (curl_easy_header(easy, "Location", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h == nullptr) {
      return {};
    }
    return h->value != nullptr ? std::string(h->value) : std::string();
  }

  // Starts the next hop to `next` (a redirect from a `status` response).
  // Returns false after finishing with a failure.
  bool FollowRedirect(long status, const std::string& next) {
    if (redirects >= kMaxRedirects) {
      Finish(Result::Failure(Reason::kProtocol,
                             "more than " + std::to_string(kMaxRedirects) + " redirects"));
      return false;
    }
    // The server name override is for the configured host, not another.
    ParsedUrl hop =
        ParseUrl(next, ToLower(ParseUrl(next, "").host) == ToLower(origin.host) ? config.server_name
                                                                                : std::string());
    if (!hop.error.empty()) {
      std::string shown = WithoutUserinfo(next.c_str());
      Finish(Result::Failure(
          Reason::kProtocol,
          "redirect to " + (shown.empty() ? "an unusable URL" : shown) + ": " + hop.error));
      return false;
    }
    ++redirects;
    // As curl and browsers do: 303 turns every method but HEAD into GET, and
    // 301/302 turn POST into GET; both drop the request body.
    if ((status == 303 && method != "HEAD") ||
        ((status == 301 || status == 302) && method == "POST")) {
      method = "GET";
      send_body = false;
    }
    ReleaseTransfer();
    url = std::move(hop);
    reply.Clear();
    Resolve();
    return true;
  }

  void OnCurlDone(CURLcode code) override {
    std::string_view during = phase;
    phase = "done";
    timings.connect = Since(CURLINFO_CONNECT_TIME_T);
    if (url.https) timings.tls = Since(CURLINFO_APPCONNECT_TIME_T);
    timings.first_byte = Since(CURLINFO_STARTTRANSFER_TIME_T);
    if (reply.cap_exceeded || code == CURLE_FILESIZE_EXCEEDED) {
      Finish(Result::Failure(Reason::kProtocol, BodyCapMessage(config.max_body_bytes)));
      return;
    }
    if (code != CURLE_OK) {
      Result r = Classify(code, during);
      if (!denied.empty() && code == CURLE_COULDNT_CONNECT) {
        // The policy refused every address (or the rest failed): say so, and
        // where a redirect led.
        r = Result::Failure(Reason::kConnect,
                            sockets_opened == 0 ? denied : r.message + "; " + denied);
        if (redirects > 0) {
          std::string shown = WithoutUserinfo(url.url.c_str());
          r.message = "redirect to " + (shown.empty() ? "another URL" : shown) + ": " + r.message;
        }
      }
      Finish(std::move(r));
      return;
    }
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    HttpVerdict verdict = JudgeReply(config, url.url, status, reply, [this] { return Location(); });
    if (!verdict.redirect.empty()) {
      FollowRedirect(status, verdict.redirect);
      return;
    }
    Finish(std::move(verdict.result));
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

HttpProber::HttpProber(Loop& loop, Resolver& resolver, AddressPolicy policy)
    : loop_(loop),
      resolver_(resolver),
      policy_(std::make_shared<const AddressPolicy>(std::move(policy))) {}

HttpProber::~HttpProber() = default;

std::unique_ptr<ProbeSession> HttpProber::Start(const HttpConfig& config, DoneFn done) {
  // Created on first use, on the loop thread: libuv handles may only be
  // initialised there once the loop runs.
  if (!multi_) multi_ = CurlMulti::Create(loop_.raw());
  auto* s = new HttpState;
  s->loop = &loop_;
  s->clock = &loop_.clock();
  s->resolver = &resolver_;
  s->policy = policy_;
  s->multi = multi_;
  s->config = config;  // shares the compiled body regex
  s->method = config.method;
  s->send_body = config.method == "POST" || !config.body.empty();
  s->done = std::move(done);
  s->start = loop_.clock().Now();
  auto session = std::make_unique<HttpSession>(s);

  s->origin = ParseUrl(config.url, config.server_name);
  s->url = s->origin;
  if (!s->url.error.empty()) {
    s->FailLater(Reason::kProtocol, s->url.error);
    return session;
  }
  if (config.body_regex && !config.body_regex->ok()) {
    s->FailLater(Reason::kAssertion, "invalid body regex: " + config.body_regex->error());
    return session;
  }
  s->Resolve();
  return session;
}

}  // namespace healthgate::probes
