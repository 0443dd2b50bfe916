#include "tests/support/net.h"

namespace healthgate::testing {
bool IgnoreSigpipe();  // tests/support/sigpipe.cc
// Runs at start-up in every test binary that uses the network helpers.
[[maybe_unused]] static const bool kSigpipeIgnored = IgnoreSigpipe();
}  // namespace healthgate::testing

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

namespace healthgate::testing {
namespace {

sockaddr_in Loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int ListenOn(int backlog, std::uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::to_string(errno));
  sockaddr_in a = Loopback(0);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, backlog) != 0) {
    close(fd);
    throw std::runtime_error("bind/listen failed: " + std::to_string(errno));
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

}  // namespace

std::uint16_t FreePort() {
  std::uint16_t port = 0;
  int fd = ListenOn(1, &port);
  close(fd);
  return port;
}

HungListener::HungListener(int backlog) { fd_ = ListenOn(backlog, &port_); }
HungListener::~HungListener() { close(fd_); }

BlackholeListener::BlackholeListener() {
  fd_ = ListenOn(0, &port_);
  // Fill the accept queue (backlog 0 still admits one, and a SYN-queue entry or
  // two): connect non-blocking until connects stop completing.
  for (int i = 0; i < 8; ++i) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in a = Loopback(port_);
    connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers_.push_back(c);
  }
  // Give the kernel a moment to complete the handshakes that fit.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

BlackholeListener::~BlackholeListener() {
  for (int c : fillers_) close(c);
  close(fd_);
}

}  // namespace healthgate::testing
