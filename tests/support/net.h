// Loopback helpers for tests: free ports and listeners that misbehave on purpose.
#pragma once

#include <cstdint>
#include <vector>

namespace healthgate::testing {

// A port that was free a moment ago (bound to port 0, then released).
std::uint16_t FreePort();

// Listens on 127.0.0.1 and never accepts: the kernel completes up to `backlog`
// handshakes, then nothing is ever read or written. A probe connecting here
// hangs until its deadline (a target that accepts and never answers).
class HungListener {
 public:
  explicit HungListener(int backlog = 4096);
  ~HungListener();
  HungListener(const HungListener&) = delete;
  HungListener& operator=(const HungListener&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// A listener whose accept queue is full, so the kernel drops further SYNs: a
// connect to it neither succeeds nor fails (a blackholed address, on loopback).
class BlackholeListener {
 public:
  BlackholeListener();
  ~BlackholeListener();
  BlackholeListener(const BlackholeListener&) = delete;
  BlackholeListener& operator=(const BlackholeListener&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::vector<int> fillers_;
  std::uint16_t port_ = 0;
};

}  // namespace healthgate::testing
