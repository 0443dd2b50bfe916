// A probe's recent results, as the dashboard and the JSON API show them: a
// fixed ring of small entries kept inline in the probe's record. One exists per
// probe and every result copies the check's record (copy-on-write snapshots),
// so it allocates nothing and copies as one block (20 x 16 bytes), where a
// std::deque allocated about 600 bytes up front and two blocks once full.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>

#include "common/clock.h"
#include "probes/result.h"

namespace healthgate::results {

// One attempt: when it ended, healthy or not, its reason and latency (to the
// microsecond, saturating at about 71 minutes). 16 bytes.
class HistoryEntry {
 public:
  HistoryEntry() = default;
  HistoryEntry(healthgate::WallTime at, bool healthy, probes::Reason reason,
               probes::Duration latency)
      : at_(at),
        latency_us_(ToMicros(latency)),
        reason_(static_cast<std::uint8_t>(reason)),
        healthy_(healthy) {}

  healthgate::WallTime at() const { return at_; }
  bool healthy() const { return healthy_; }
  probes::Reason reason() const { return static_cast<probes::Reason>(reason_); }
  double latency_ms() const { return static_cast<double>(latency_us_) / 1000.0; }

 private:
  static std::uint32_t ToMicros(probes::Duration d) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(us, 0, UINT32_MAX));
  }

  healthgate::WallTime at_{};
  std::uint32_t latency_us_ = 0;
  std::uint8_t reason_ = 0;  // a probes::Reason (fewer than 256 values)
  bool healthy_ = false;
};
static_assert(sizeof(HistoryEntry) == 16);

// The newest N values, oldest first. Pushing into a full ring drops the oldest.
template <class T, std::size_t N>
class Ring {
  static_assert(N > 0 && N <= 255, "the indices are one byte");

 public:
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = const T*;
    using reference = const T&;
    const_iterator() = default;
    reference operator*() const { return (*ring_)[index_]; }
    pointer operator->() const { return &(*ring_)[index_]; }
    const_iterator& operator++() {
      ++index_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++index_;
      return old;
    }
    bool operator==(const const_iterator& o) const { return index_ == o.index_; }

   private:
    friend class Ring;
    const_iterator(const Ring* ring, std::size_t index) : ring_(ring), index_(index) {}
    const Ring* ring_ = nullptr;
    std::size_t index_ = 0;
  };

  void push_back(const T& value) {
    items_[(first_ + size_) % N] = value;
    if (size_ < N) {
      ++size_;
    } else {
      first_ = static_cast<std::uint8_t>((first_ + 1) % N);
    }
  }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  static constexpr std::size_t capacity() { return N; }
  // 0 is the oldest; `i` must be below size().
  const T& operator[](std::size_t i) const { return items_[(first_ + i) % N]; }
  const T& front() const { return (*this)[0]; }
  const T& back() const { return (*this)[size_ - 1]; }
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, size_); }

 private:
  std::array<T, N> items_{};
  std::uint8_t first_ = 0;  // index of the oldest
  std::uint8_t size_ = 0;
};

inline constexpr std::size_t kHistoryLength = 20;
using History = Ring<HistoryEntry, kHistoryLength>;

}  // namespace healthgate::results
