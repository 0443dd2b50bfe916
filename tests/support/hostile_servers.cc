#include "tests/support/hostile_servers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace healthgate::testing {

ScriptedServer::ScriptedServer(std::function<void(int fd)> serve) : serve_(std::move(serve)) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd_, 512) != 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
      pipe2(stop_, O_CLOEXEC) != 0) {
    throw std::runtime_error("ScriptedServer: cannot listen");
  }
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

void ScriptedServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) return;
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    ++connections_;
    std::lock_guard<std::mutex> lock(mu_);
    open_.push_back(c);
    workers_.emplace_back([this, c] { serve_(c); });
  }
}

ScriptedServer::~ScriptedServer() {
  ssize_t n = write(stop_[1], "x", 1);
  (void)n;
  acceptor_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int c : open_) shutdown(c, SHUT_RDWR);  // unblocks every worker
  }
  for (auto& t : workers_) t.join();
  for (int c : open_) close(c);
  close(fd_);
  close(stop_[0]);
  close(stop_[1]);
}

bool SendAll(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

bool ReadSome(int fd, std::string* out) {
  char buf[16384];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n <= 0) return false;
  out->append(buf, static_cast<std::size_t>(n));
  return true;
}

bool ReadExactly(int fd, std::size_t n, std::string* out) {
  out->clear();
  while (out->size() < n) {
    char buf[16384];
    ssize_t r = recv(fd, buf, std::min(sizeof buf, n - out->size()), 0);
    if (r <= 0) return false;
    out->append(buf, static_cast<std::size_t>(r));
  }
  return true;
}

void Stream(int fd, char filler, std::uint64_t total) {
  const std::string chunk(64 * 1024, filler);
  std::uint64_t sent = 0;
  while (sent < total) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), total - sent));
    if (!SendAll(fd, chunk.substr(0, n))) return;
    sent += n;
  }
  std::string ignored;
  while (ReadSome(fd, &ignored)) ignored.clear();
}

std::function<void(int)> HostileRedis(std::string reply, std::uint64_t stream_bytes) {
  return [reply, stream_bytes](int fd) {
    std::string request;
    // One answer per command read (the probes under test send one command).
    while (ReadSome(fd, &request)) {
      request.clear();
      if (!SendAll(fd, reply)) return;
      if (stream_bytes > 0) {
        Stream(fd, 'x', stream_bytes);
        return;
      }
    }
  };
}

namespace {

std::string Int32(std::uint32_t v) {
  std::string s(4, '\0');
  s[0] = static_cast<char>((v >> 24) & 0xff);
  s[1] = static_cast<char>((v >> 16) & 0xff);
  s[2] = static_cast<char>((v >> 8) & 0xff);
  s[3] = static_cast<char>(v & 0xff);
  return s;
}

std::string Int16(std::uint16_t v) {
  std::string s(2, '\0');
  s[0] = static_cast<char>((v >> 8) & 0xff);
  s[1] = static_cast<char>(v & 0xff);
  return s;
}

std::uint32_t ReadInt32(const std::string& s, std::size_t at) {
  auto b = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(s[i]));
  };
  return (b(at) << 24) | (b(at + 1) << 16) | (b(at + 2) << 8) | b(at + 3);
}

// A backend message: type, length (itself included), body.
std::string Message(char type, const std::string& body) {
  return std::string(1, type) + Int32(static_cast<std::uint32_t>(body.size() + 4)) + body;
}

std::string Param(const std::string& name, const std::string& value) {
  return Message('S', name + std::string(1, '\0') + value + std::string(1, '\0'));
}

}  // namespace

std::function<void(int)> HostilePostgres(PgHostility how, std::uint64_t announced,
                                         std::uint64_t stream_bytes) {
  return [how, announced, stream_bytes](int fd) {
    std::string head;
    std::string body;
    // Startup, after any SSLRequest / GSSENCRequest (both refused with 'N').
    for (;;) {
      if (!ReadExactly(fd, 4, &head)) return;
      const std::uint32_t len = ReadInt32(head, 0);
      if (len < 8 || len > 10000 || !ReadExactly(fd, len - 4, &body)) return;
      const std::uint32_t code = ReadInt32(body, 0);
      if (code == 80877103 || code == 80877104) {
        if (!SendAll(fd, "N")) return;
        continue;
      }
      break;
    }
    std::string hello = Message('R', Int32(0));  // AuthenticationOk
    hello += Param("server_version", "15.0");
    hello += Param("client_encoding", "UTF8");
    hello += Param("standard_conforming_strings", "on");
    hello += Param("integer_datetimes", "on");
    hello += Message('K', Int32(4242) + Int32(1234));
    hello += Message('Z', "I");  // ReadyForQuery, idle
    if (!SendAll(fd, hello)) return;
    for (;;) {
      if (!ReadExactly(fd, 5, &head)) return;
      const char type = head[0];
      const std::uint32_t len = ReadInt32(head, 1);
      if (len < 4 || !ReadExactly(fd, len - 4, &body)) return;
      if (type == 'X') return;
      if (type != 'Q') continue;
      // One text column "x".
      std::string field = std::string("x") + '\0' + Int32(0) + Int16(0) + Int32(25) +
                          Int16(0xffff) + Int32(0xffffffff) + Int16(0);
      if (!SendAll(fd, Message('T', Int16(1) + field))) return;
      if (how == PgHostility::kHugeField) {
        const auto n = static_cast<std::uint32_t>(announced);
        std::string row = std::string(1, 'D') + Int32(4 + 2 + 4 + n) + Int16(1) + Int32(n);
        if (!SendAll(fd, row)) return;
        Stream(fd, 'x', stream_bytes);
        return;
      }
      const std::string value(8192, 'x');
      const std::string row = Message('D', Int16(1) + Int32(8192) + value);
      for (std::uint64_t sent = 0; sent < stream_bytes; sent += row.size()) {
        if (!SendAll(fd, row)) return;
      }
      Stream(fd, 'x', 0);
      return;
    }
  };
}

namespace {

std::uint64_t StatusKb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream fields(line.substr(key.size() + 1));
      std::uint64_t kb = 0;
      fields >> kb;
      return kb;
    }
  }
  throw std::runtime_error("/proc/self/status has no " + key);
}

}  // namespace

std::uint64_t RssBytes() { return StatusKb("VmRSS") * 1024; }
std::uint64_t PeakRssBytes() { return StatusKb("VmHWM") * 1024; }

void ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.close();
  if (!out) throw std::runtime_error("cannot reset the peak RSS (/proc/self/clear_refs)");
}

}  // namespace healthgate::testing
