// Injected randomness (jitter, first-run spread). Tests use a fixed seed.
#pragma once

#include <cstdint>
#include <random>

namespace healthgate {

class Random {
 public:
  virtual ~Random() = default;
  // Uniform in [0, 1).
  virtual double Uniform() = 0;
};

// Not thread-safe: owned by the loop thread.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : engine_(seed) {}
  double Uniform() override { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }

 private:
  std::mt19937_64 engine_;
};

}  // namespace healthgate
