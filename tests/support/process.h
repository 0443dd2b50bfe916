// Child processes for tests (servers, the healthgate binary). A process that
// cannot start fails the test loudly; nothing is skipped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace healthgate::testing {

struct RunResult {
  int exit_code = -1;  // -1: killed by a signal or timed out
  std::string output;  // stdout and stderr, interleaved
};

// Runs a command to completion (argv[0] searched in PATH), capturing its output.
RunResult Run(const std::vector<std::string>& argv,
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A background process, stopped (SIGTERM, then SIGKILL) when destroyed.
class Process {
 public:
  Process() = default;
  explicit Process(const std::vector<std::string>& argv, const std::string& log_path = "");
  ~Process();
  Process(Process&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  Process& operator=(Process&& o) noexcept;
  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // Waits for exit; returns the exit code (-1 on signal or timeout).
  int Wait(std::chrono::milliseconds timeout);
  void Stop();

 private:
  pid_t pid_ = -1;
};

// Polls `ready` every 20 ms until it returns true or `timeout` passes.
bool WaitFor(const std::function<bool()>& ready, std::chrono::milliseconds timeout);

// A fresh temporary directory, removed (recursively) when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Everything written to `f` so far (flushed, from its start): a log captured
// in a std::tmpfile().
std::string ReadAll(std::FILE* f);

}  // namespace healthgate::testing
