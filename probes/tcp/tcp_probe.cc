#include "probes/tcp/tcp_probe.h"

#include <string>
#include <vector>

#include "probes/engine/linger.h"

namespace healthgate::probes {
namespace {

constexpr std::size_t kMaxReadBytes = 64 * 1024;

// Owned by the session until it is destroyed; then by the libuv close callback.
struct TcpState {
  uv_loop_t* loop = nullptr;
  const Clock* clock = nullptr;
  const AddressPolicy* policy = nullptr;
  TcpConfig config;
  DoneFn done;
  std::unique_ptr<ResolveHandle> resolving;
  std::vector<Address> addresses;
  std::size_t next_address = 0;
  uv_tcp_t tcp{};
  uv_connect_t connect_req{};
  uv_write_t write_req{};
  bool handle_open = false;
  bool detached = false;  // session gone: report nothing, free on close
  std::string phase = "dns";
  std::string received;
  std::string last_error;
  std::string denied;  // the first address the policy refused, why
  std::size_t connects = 0;
  MonoTime start{};
  Timings timings;

  void Finish(Result r) {
    r.timings = timings;
    DoneFn fn = std::move(done);
    done = nullptr;
    CloseHandle();
    if (fn) fn(std::move(r));  // may destroy the session; `this` lives until close
  }

  // Handle lifetime: `handle_open` while the socket exists, `closing` while its
  // close callback is pending. The state is freed once the session is gone
  // (`detached`) and no callback can reach it any more.
  bool closing = false;
  bool pending_connect = false;

  void CloseHandle() {
    if (!handle_open) return;
    handle_open = false;
    closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* h) {
      auto* s = static_cast<TcpState*>(h->data);
      s->closing = false;
      if (s->detached) {
        delete s;
      } else if (s->pending_connect) {
        s->ConnectNext();
      }
    });
  }

  void ConnectNext() {
    pending_connect = false;
    // Addresses the policy refuses are skipped before a socket exists.
    while (next_address < addresses.size()) {
      std::string why = policy->Refusal(addresses[next_address].sa());
      if (why.empty()) break;
      if (denied.empty()) denied = std::move(why);
      ++next_address;
    }
    if (next_address >= addresses.size()) {
      Finish(Result::Failure(
          Reason::kConnect,
          connects == 0 ? denied : last_error + (denied.empty() ? "" : "; " + denied)));
      return;
    }
    const Address& a = addresses[next_address++];
    ++connects;
    uv_tcp_init(loop, &tcp);
    tcp.data = this;
    handle_open = true;
    phase = "connect";
    connect_req.data = this;
    int rc = uv_tcp_connect(&connect_req, &tcp, a.sa(), &TcpState::OnConnect);
    if (rc != 0) {
      last_error = Describe(a, rc);
      Retry();
    }
  }

  // Closes the failed socket, then tries the next address from the close callback.
  void Retry() {
    pending_connect = true;
    CloseHandle();
  }

  std::string Describe(const Address& a, int rc) const {
    return "connect " + a.ip() + ":" + std::to_string(a.port()) + ": " + uv_strerror(rc);
  }

  static void OnConnect(uv_connect_t* req, int status) {
    auto* s = static_cast<TcpState*>(req->data);
    if (s->detached || !s->done) return;
    if (status != 0) {
      s->last_error = s->Describe(s->addresses[s->next_address - 1], status);
      s->Retry();
      return;
    }
    s->timings.connect = s->clock->Now() - s->start;
    // We close first once we have our answer: no TIME_WAIT left on this side.
    if (uv_os_fd_t fd; uv_fileno(reinterpret_cast<uv_handle_t*>(&s->tcp), &fd) == 0) {
      SetLingerZero(fd);
    }
    if (!s->config.send.empty()) {
      s->phase = "send";
      uv_buf_t buf =
          uv_buf_init(s->config.send.data(), static_cast<unsigned>(s->config.send.size()));
      s->write_req.data = s;
      int rc = uv_write(&s->write_req, reinterpret_cast<uv_stream_t*>(&s->tcp), &buf, 1,
                        &TcpState::OnWrite);
      if (rc != 0) {
        s->Finish(Result::Failure(Reason::kConnect, std::string("send: ") + uv_strerror(rc)));
        return;
      }
    }
    if (!s->config.expect) {
      if (s->config.send.empty()) s->Finish(Result::Success("connected"));
      return;  // with `send`, success comes from OnWrite
    }
    s->phase = "read";
    uv_read_start(reinterpret_cast<uv_stream_t*>(&s->tcp), &TcpState::OnAlloc, &TcpState::OnRead);
  }

  static void OnWrite(uv_write_t* req, int status) {
    auto* s = static_cast<TcpState*>(req->data);
    if (s->detached || !s->done) return;
    if (status != 0) {
      s->Finish(Result::Failure(Reason::kConnect, std::string("send: ") + uv_strerror(status)));
      return;
    }
    if (!s->config.expect)
      s->Finish(
          Result::Success("connected, sent " + std::to_string(s->config.send.size()) + " bytes"));
  }

  static void OnAlloc(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
    buf->base = new char[suggested];
    buf->len = suggested;
  }

  static void OnRead(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
    auto* s = static_cast<TcpState*>(stream->data);
    std::unique_ptr<char[]> owned(buf->base);
    if (s->detached || !s->done) return;
    if (n > 0) {
      if (!s->timings.first_byte) s->timings.first_byte = s->clock->Now() - s->start;
      s->received.append(buf->base, static_cast<std::size_t>(n));
      if (s->received.find(*s->config.expect) != std::string::npos) {
        s->Finish(Result::Success("received expected bytes"));
      } else if (s->received.size() > kMaxReadBytes) {
        s->Finish(Result::Failure(Reason::kAssertion,
                                  "expected bytes not found in the first 64 KiB of the reply"));
      }
      return;
    }
    if (n < 0) {
      s->Finish(Result::Failure(Reason::kAssertion,
                                n == UV_EOF
                                    ? "peer closed the connection before sending the "
                                      "expected bytes"
                                    : std::string("read: ") + uv_strerror(static_cast<int>(n))));
    }
  }
};

class TcpSession final : public ProbeSession {
 public:
  explicit TcpSession(TcpState* s) : s_(s) {}
  ~TcpSession() override {
    s_->resolving.reset();
    s_->done = nullptr;
    s_->detached = true;
    s_->CloseHandle();
    if (!s_->closing) delete s_;  // otherwise the close callback frees it
  }
  std::string_view Phase() const override { return s_->phase; }

 private:
  TcpState* s_;
};

}  // namespace

std::unique_ptr<ProbeSession> TcpProber::Start(const TcpConfig& config, DoneFn done) {
  auto* s = new TcpState;
  s->loop = loop_.raw();
  s->clock = &loop_.clock();
  s->policy = &policy_;
  s->config = config;
  s->done = std::move(done);
  s->start = loop_.clock().Now();
  auto session = std::make_unique<TcpSession>(s);
  s->resolving = resolver_.Resolve(config.host, config.port, [s](Resolution r) {
    s->timings.dns = s->clock->Now() - s->start;
    if (r.addresses.empty()) {
      s->Finish(Result::Failure(Reason::kDns, r.error));
      return;
    }
    s->addresses = std::move(r.addresses);
    s->ConnectNext();
  });
  return session;
}

}  // namespace healthgate::probes
