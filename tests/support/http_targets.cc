#include "tests/support/http_targets.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/support/process.h"

namespace healthgate::testing {
namespace {

constexpr std::uint64_t kBigBody = 100ull * 1024 * 1024;
constexpr std::size_t kChunk = 64 * 1024;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

TlsFiles MakeSelfSignedCert(const std::string& dir, const std::string& name) {
  TlsFiles f{dir + "/" + name + ".crt", dir + "/" + name + ".key", ""};
  RunResult r =
      Run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-keyout", f.key_path, "-out", f.cert_path, "-days", "2", "-subj",
           "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"});
  if (r.exit_code != 0) throw std::runtime_error("openssl req failed: " + r.output);
  f.cert_pem = ReadFile(f.cert_path);
  if (f.cert_pem.find("BEGIN CERTIFICATE") == std::string::npos) {
    throw std::runtime_error("openssl wrote no certificate to " + f.cert_path);
  }
  return f;
}

TlsFiles MakeCa(const std::string& dir, const std::string& name) {
  TlsFiles f{dir + "/" + name + ".crt", dir + "/" + name + ".key", ""};
  RunResult r = Run({"openssl",
                     "req",
                     "-x509",
                     "-newkey",
                     "ec",
                     "-pkeyopt",
                     "ec_paramgen_curve:prime256v1",
                     "-nodes",
                     "-keyout",
                     f.key_path,
                     "-out",
                     f.cert_path,
                     "-days",
                     "2",
                     "-subj",
                     "/CN=healthgate test CA " + name,
                     "-addext",
                     "basicConstraints=critical,CA:TRUE",
                     "-addext",
                     "keyUsage=critical,keyCertSign,cRLSign"});
  if (r.exit_code != 0) throw std::runtime_error("openssl req (CA) failed: " + r.output);
  f.cert_pem = ReadFile(f.cert_path);
  return f;
}

TlsFiles MakeCaSignedCert(const std::string& dir, const TlsFiles& ca, const std::string& name,
                          const CertOptions& options) {
  TlsFiles f{dir + "/" + name + ".crt", dir + "/" + name + ".key", ""};
  const std::string csr = dir + "/" + name + ".csr";
  const bool ip = options.host.find_first_not_of("0123456789.") == std::string::npos;
  const std::string san = std::string(ip ? "IP:" : "DNS:") + options.host;
  RunResult r = Run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                     "-nodes", "-keyout", f.key_path, "-out", csr, "-subj", "/CN=" + options.host,
                     "-addext", "subjectAltName=" + san});
  if (r.exit_code != 0) throw std::runtime_error("openssl req (CSR) failed: " + r.output);
  // `openssl ca` is the one command-line signer in OpenSSL 3.0 that takes explicit
  // validity dates (for the expired certificate); it wants a small database.
  const std::string db = dir + "/" + name + ".db";
  const std::string config = dir + "/" + name + ".cnf";
  {
    std::ofstream(db + ".index");
    std::ofstream(db + ".serial") << "1000\n";
    std::ofstream(config) << "[ca]\ndefault_ca = signer\n[signer]\ndatabase = " << db
                          << ".index\nserial = " << db << ".serial\nnew_certs_dir = " << dir
                          << "\npolicy = any\ndefault_md = sha256\ncopy_extensions = copy\n"
                          << "unique_subject = no\n[any]\ncommonName = supplied\n";
  }
  std::vector<std::string> args = {"openssl", "ca",    "-batch",     "-notext",  "-config",
                                   config,    "-cert", ca.cert_path, "-keyfile", ca.key_path,
                                   "-in",     csr,     "-out",       f.cert_path};
  if (options.expired) {
    args.insert(args.end(), {"-startdate", "20200101000000Z", "-enddate", "20200131000000Z"});
  } else {
    args.insert(args.end(), {"-days", "2"});
  }
  r = Run(args);
  if (r.exit_code != 0) throw std::runtime_error("openssl ca failed: " + r.output);
  f.cert_pem = ReadFile(f.cert_path);
  if (f.cert_pem.find("BEGIN CERTIFICATE") == std::string::npos) {
    throw std::runtime_error("openssl wrote no certificate to " + f.cert_path);
  }
  return f;
}

struct HttpTarget::Impl {
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
};

HttpTarget::HttpTarget(std::optional<TlsFiles> tls) : impl_(std::make_unique<Impl>()) {
  tls_ = tls.has_value();
  if (tls_) {
    impl_->server =
        std::make_unique<httplib::SSLServer>(tls->cert_path.c_str(), tls->key_path.c_str());
  } else {
    impl_->server = std::make_unique<httplib::Server>();
  }
  httplib::Server& srv = *impl_->server;
  if (!srv.is_valid()) throw std::runtime_error("HTTP target: server is not valid (TLS files?)");
  srv.set_tcp_nodelay(true);
  srv.set_read_timeout(5, 0);
  srv.set_write_timeout(5, 0);
  // Enough workers that many concurrent probes do not queue behind each other.
  srv.new_task_queue = [] { return new httplib::ThreadPool(64); };
  srv.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
    std::lock_guard<std::mutex> lock(mu_);
    last_headers_.clear();
    for (const auto& [k, v] : req.headers) last_headers_.emplace(Lower(k), v);
    ++requests_;
    return httplib::Server::HandlerResponse::Unhandled;
  });
  srv.Get("/ok", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok: healthy", "text/plain");
  });
  srv.Get("/slow", [](const httplib::Request& req, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(req.get_param_value("ms"))));
    res.set_content("ok: slow", "text/plain");
  });
  srv.Get(R"(/status/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
    res.status = std::stoi(req.matches[1]);
    res.set_content("status " + std::string(req.matches[1]), "text/plain");
  });
  srv.Get("/redirect",
          [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/ok", 302); });
  auto redirect_to = [](const httplib::Request& req, httplib::Response& res) {
    int code = req.has_param("code") ? std::stoi(req.get_param_value("code")) : 302;
    res.set_redirect(req.get_param_value("url"), code);
  };
  srv.Get("/redirect-to", redirect_to);
  srv.Post("/redirect-to", redirect_to);
  srv.Get("/loop",
          [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/loop", 302); });
  srv.Get("/filler", [](const httplib::Request& req, httplib::Response& res) {
    std::string fill = req.has_param("fill") ? req.get_param_value("fill") : "x";
    std::string body(std::stoul(req.get_param_value("n")), fill.empty() ? 'x' : fill[0]);
    res.set_content(body + req.get_param_value("tail"), "text/plain");
  });
  srv.Get("/big", [this](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/octet-stream",
                                     [this](size_t offset, httplib::DataSink& sink) {
                                       static const std::string chunk(kChunk, 'x');
                                       if (offset >= kBigBody) {
                                         sink.done();
                                         return true;
                                       }
                                       if (!sink.write(chunk.data(), chunk.size())) return false;
                                       big_bytes_sent_ += chunk.size();
                                       return true;
                                     });
  });
  srv.Get("/big-sized", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(
        kBigBody, "application/octet-stream",
        [this](size_t offset, size_t length, httplib::DataSink& sink) {
          static const std::string chunk(kChunk, 'x');
          std::size_t n = std::min<std::size_t>({chunk.size(), length, kBigBody - offset});
          if (!sink.write(chunk.data(), n)) return false;
          big_bytes_sent_ += n;
          return true;
        });
  });
  auto echo = [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.method + " " + req.body, "text/plain");
  };
  srv.Get("/echo", echo);
  srv.Post("/echo", echo);
  srv.Put("/echo", echo);
  srv.Delete("/echo", echo);

  // cpp-httplib listens with a backlog of 5, fixed when the library was built:
  // under a burst of connects the kernel then drops handshakes and clients wait
  // for retransmissions. Keep the socket (and httplib's default options) and
  // raise the backlog once it listens.
  int listen_fd = -1;
  srv.set_socket_options([&listen_fd](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = sock;
  });
  int port = srv.bind_to_any_port("127.0.0.1");
  if (port <= 0) throw std::runtime_error("HTTP target: cannot bind a loopback port");
  if (listen_fd < 0 || listen(listen_fd, 1024) != 0) {
    throw std::runtime_error("HTTP target: cannot raise the listen backlog");
  }
  srv.set_socket_options(httplib::default_socket_options);
  port_ = static_cast<std::uint16_t>(port);
  impl_->thread = std::thread([&srv] { srv.listen_after_bind(); });
  if (!WaitFor([&srv] { return srv.is_running(); }, std::chrono::seconds(5))) {
    srv.stop();
    impl_->thread.join();
    throw std::runtime_error("HTTP target did not start");
  }
}

HttpTarget::~HttpTarget() {
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::string HttpTarget::Url(const std::string& path, const std::string& host) const {
  return std::string(tls_ ? "https" : "http") + "://" + host + ":" + std::to_string(port_) + path;
}

std::optional<std::string> HttpTarget::LastHeader(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = last_headers_.find(Lower(name));
  if (it == last_headers_.end()) return std::nullopt;
  return it->second;
}

RawTarget::RawTarget(Handler handler) : handler_(std::move(handler)) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(fd_, 128) != 0) {
    if (fd_ >= 0) close(fd_);
    throw std::runtime_error("raw target: cannot listen on loopback");
  }
  socklen_t len = sizeof a;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

RawTarget::~RawTarget() {
  stop_ = true;
  shutdown(fd_, SHUT_RDWR);
  acceptor_.join();
  close(fd_);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& t : connections_) t.join();
}

std::string RawTarget::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void RawTarget::AcceptLoop() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    connections_.emplace_back([this, c] {
      handler_(c, stop_);
      close(c);
    });
  }
}

namespace {

// Reads until the end of the request head (or 2 s, or EOF).
void ReadRequestHead(int fd) {
  std::string got;
  char buf[4096];
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (got.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return;
    got.append(buf, static_cast<std::size_t>(n));
  }
}

bool WriteAll(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

RawTarget::Handler Trickle(std::size_t length, std::chrono::milliseconds every) {
  return [length, every](int fd, const std::atomic<bool>& stop) {
    ReadRequestHead(fd);
    if (!WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(length) +
                          "\r\nContent-Type: text/plain\r\n\r\n")) {
      return;
    }
    for (std::size_t i = 0; i < length && !stop; ++i) {
      std::this_thread::sleep_for(every);
      if (!WriteAll(fd, "x")) return;
    }
  };
}

RawTarget::Handler Garbage(std::string bytes) { return Reply(std::move(bytes)); }

RawTarget::Handler Reply(std::string reply) {
  return [reply](int fd, const std::atomic<bool>&) {
    ReadRequestHead(fd);
    WriteAll(fd, reply);
  };
}

RawTarget::Handler ResetAfter(std::string partial) {
  return [partial](int fd, const std::atomic<bool>&) {
    ReadRequestHead(fd);
    WriteAll(fd, partial);
    // Let the peer read what was sent, then close with a zero linger time: the
    // kernel answers with RST instead of FIN.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  };
}

}  // namespace healthgate::testing
