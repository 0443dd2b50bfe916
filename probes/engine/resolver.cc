#include "probes/engine/resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>

namespace healthgate::probes {

std::string Address::ip() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (storage.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof buf);
  } else if (storage.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf,
              sizeof buf);
  }
  return buf;
}

std::uint16_t Address::port() const {
  if (storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

std::string RemoveRefused(const AddressPolicy& policy, std::vector<Address>* addresses) {
  std::string first;
  std::vector<Address> kept;
  kept.reserve(addresses->size());
  for (const Address& a : *addresses) {
    std::string why = policy.Refusal(a.sa());
    if (why.empty()) {
      kept.push_back(a);
    } else if (first.empty()) {
      first = std::move(why);
    }
  }
  *addresses = std::move(kept);
  return first;
}

bool ParseNumericAddress(const std::string& host_in, std::uint16_t port, Address* out) {
  std::string host = host_in;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::memset(&out->storage, 0, sizeof out->storage);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out->storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out->length = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out->length = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

namespace {

// Shared between the handle and the pending libuv request; the request may
// outlive the handle (a running getaddrinfo cannot be interrupted).
struct Pending {
  uv_getaddrinfo_t req{};
  std::function<void(Resolution)> done;
  std::string host;
  std::uint16_t port = 0;
  bool cancelled = false;
};

class Handle final : public ResolveHandle {
 public:
  explicit Handle(std::shared_ptr<Pending> p) : p_(std::move(p)) {}
  ~Handle() override {
    p_->cancelled = true;
    p_->done = nullptr;
  }

 private:
  std::shared_ptr<Pending> p_;
};

void OnResolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  // The request holds a reference to its Pending until this callback.
  auto* holder = static_cast<std::shared_ptr<Pending>*>(req->data);
  std::shared_ptr<Pending> p = std::move(*holder);
  delete holder;
  Resolution r;
  if (status != 0) {
    r.error = "cannot resolve " + p->host + ": " + uv_strerror(status);
  } else {
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
      Address a;
      std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
      a.length = static_cast<socklen_t>(ai->ai_addrlen);
      r.addresses.push_back(a);
    }
    if (r.addresses.empty()) r.error = "cannot resolve " + p->host + ": no address";
  }
  if (res != nullptr) uv_freeaddrinfo(res);
  if (!p->cancelled && p->done) {
    auto done = std::move(p->done);
    done(std::move(r));
  }
}

}  // namespace

std::unique_ptr<ResolveHandle> UvResolver::Resolve(const std::string& host, std::uint16_t port,
                                                   std::function<void(Resolution)> done) {
  auto p = std::make_shared<Pending>();
  p->done = std::move(done);
  p->host = host;
  p->port = port;
  Address numeric;
  if (ParseNumericAddress(host, port, &numeric)) {
    loop_.Post([p, numeric] {
      if (p->cancelled || !p->done) return;
      auto done_fn = std::move(p->done);
      done_fn(Resolution{{numeric}, {}});
    });
    return std::make_unique<Handle>(p);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  auto* holder = new std::shared_ptr<Pending>(p);
  p->req.data = holder;
  std::string port_text = std::to_string(port);
  int rc =
      uv_getaddrinfo(loop_.raw(), &p->req, &OnResolved, host.c_str(), port_text.c_str(), &hints);
  if (rc != 0) {
    delete holder;
    std::string error = "cannot resolve " + host + ": " + uv_strerror(rc);
    loop_.Post([p, error] {
      if (p->cancelled || !p->done) return;
      auto done_fn = std::move(p->done);
      done_fn(Resolution{{}, error});
    });
  }
  return std::make_unique<Handle>(p);
}

}  // namespace healthgate::probes
