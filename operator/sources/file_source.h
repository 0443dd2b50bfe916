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
// A source that cannot be read is not a removal. When a path given with -f
// vanishes (a directory moved away, a ConfigMap volume re-mounted) or cannot be
// listed, or a file becomes unreadable, not a regular file, too large, a YAML
// syntax error or 0 bytes (a normal intermediate state of a non-atomic save), the
// checks it defined in the last load keep running their last version: each shows
// the error (status "invalidSpec" in the API), the error is logged once per
// change, and healthgate_manifest_source_errors{path} counts the unreadable
// sources under each -f path. A file deleted from a directory that is still
// there is a removal: its checks go.
//
// Thread-safety: Start() runs the poller on its own thread; Stop() joins it.
// LoadNow() may be called from any thread before Start(); ReloadNow() from any
// thread after it.
#pragma once

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "operator/api/v1alpha1/model.h"
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
    // Where healthgate_manifest_source_errors is registered; may be null.
    std::shared_ptr<prometheus::Registry> registry;
    // The process's validation options (--redis-allow-commands).
    v1alpha1::ValidationOptions validation;
  };
  FileSource(Options options, controller::Controller& controller, Logger& log);
  ~FileSource();
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  // Parses every path now and replaces the controller's desired state.
  LoadReport LoadNow();
  void Start();
  void Stop();
  // Asks the poller to reload now (SIGHUP), without waiting for a change.
  void ReloadNow();
  std::uint64_t reloads() const;

 private:
  LoadReport Load();
  // Logs the sources whose error appeared, changed or went away, and sets the
  // gauge per -f path.
  void ReportSourceErrors(std::map<std::string, std::string> errors,
                          const std::map<std::string, std::string>& owner);
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
  // -f path -> the files it named in the last load (kept while it is unreadable).
  std::map<std::string, std::vector<std::string>> path_files_;
  // Unreadable source (a -f path or a file) -> its error, as last logged.
  std::map<std::string, std::string> source_errors_;
  prometheus::Family<prometheus::Gauge>* source_errors_gauge_ = nullptr;
  std::string files_fp_;
  std::string secrets_fp_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool reload_requested_ = false;
  std::uint64_t reloads_ = 0;
  std::thread thread_;
};

}  // namespace healthgate::sources
