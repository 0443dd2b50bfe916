// Hostile peers on loopback: servers that speak just enough Redis (RESP) or
// PostgreSQL wire protocol to get a probe to its reply, then misbehave. These
// are fakes on purpose: a real Redis or PostgreSQL cannot be made on demand to
// announce a 512 MB reply and stream it, or to answer PING with invalid UTF-8.
// Each connection is served by its own thread; the destructor shuts every
// connection down and joins them.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace healthgate::testing {

// Accepts connections on 127.0.0.1 and runs `serve(fd)` for each in a thread.
// `serve` must return when a read or write on fd fails (the destructor shuts
// the sockets down, which makes them fail).
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<void(int fd)> serve);
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;
  std::uint16_t port() const { return port_; }
  // Connections accepted so far.
  int connections() const { return connections_.load(); }

 private:
  void AcceptLoop();

  std::function<void(int)> serve_;
  int fd_ = -1;
  int stop_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::vector<int> open_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

// Helpers for `serve` functions. Both return false once the peer is gone.
bool SendAll(int fd, const std::string& bytes);
// Reads what is available (blocking for at least one byte) into `out`.
bool ReadSome(int fd, std::string* out);
// Reads exactly `n` bytes.
bool ReadExactly(int fd, std::size_t n, std::string* out);
// Writes `filler` repeatedly (in 64 KiB chunks) until `total` bytes are sent or
// the peer is gone; then keeps the connection open, silent, until the peer closes.
void Stream(int fd, char filler, std::uint64_t total);

// Redis: reads a command, then answers every command with `reply` followed by
// `stream_bytes` bytes of filler ('x'), then stays silent.
//   HostileRedis("$536870912\r\n", 256 << 20): announces a 512 MB bulk string
//   HostileRedis("+P\xffNG\r\n"): invalid UTF-8 in a status reply
std::function<void(int)> HostileRedis(std::string reply, std::uint64_t stream_bytes = 0);

// PostgreSQL (protocol 3.0, no TLS: answers SSLRequest with 'N'): startup ->
// AuthenticationOk, ParameterStatus, BackendKeyData, ReadyForQuery; on the
// first Query a RowDescription of one text column and then:
//   kHugeField:   one DataRow announcing a `announced`-byte field, of which
//                 `stream_bytes` are sent;
//   kEndlessRows: small DataRows (8 KiB each) until `stream_bytes` are sent.
enum class PgHostility { kHugeField, kEndlessRows };
std::function<void(int)> HostilePostgres(PgHostility how, std::uint64_t announced,
                                         std::uint64_t stream_bytes);

// This process' resident memory (VmRSS) and its peak (VmHWM), in bytes, from
// /proc/self/status; ResetPeakRss() makes the peak start again from now
// (/proc/self/clear_refs, value 5).
std::uint64_t RssBytes();
std::uint64_t PeakRssBytes();
void ResetPeakRss();

}  // namespace healthgate::testing
