// The local-mode source: HealthCheck manifests from files and directories,
// reloaded when they change. Polls file metadata (path, size, mtime) once per
// `poll` period: portable, cheap, and it notices editors that replace files by
// rename as well as in-place writes. A reload re-parses everything and hands the
// whole desired state to the controller, which keeps unchanged probes untouched.
//
// Bad input never stops anything: each invalid document is logged (file, document
// index, line, field path, reason) and reported to the controller for its check, so
// a previous valid version keeps running and the API shows the error.
//
// Thread-safety: Start() runs the poller on its own thread; Stop() joins it.
// LoadNow() may be called from any thread before Start().
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "operator/controller/controller.h"
#include "operator/log/log.h"

namespace healthgate::sources {

struct LoadReport {
  std::size_t documents = 0;
  std::size_t valid = 0;
  std::vector<std::string> errors;  // one line per error
};

class FileSource {
 public:
  struct Options {
    std::vector<std::string> paths;
    std::string secrets_dir;  // watched too: a rotated secret is picked up
    std::chrono::milliseconds poll{500};
  };
  FileSource(Options options, controller::Controller& controller, Logger& log);
  ~FileSource();
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  // Parses every path now and replaces the controller's desired state.
  LoadReport LoadNow();
  void Start();
  void Stop();
  std::uint64_t reloads() const;

 private:
  LoadReport Load();
  std::string Fingerprint(const std::vector<std::string>& paths, int depth) const;
  void Run();

  Options options_;
  controller::Controller& controller_;
  Logger& log_;
  // File -> "ns/name" of each of its documents (by index; "" when none) in the
  // last load, to attribute a document that became unreadable (e.g. a YAML
  // syntax error) to the check it used to define. One entry per file, not per
  // document: thousands of checks share a few files.
  std::map<std::string, std::vector<std::string>> doc_keys_;
  std::string files_fp_;
  std::string secrets_fp_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::uint64_t reloads_ = 0;
  std::thread thread_;
};

}  // namespace healthgate::sources
