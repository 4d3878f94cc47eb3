// A one-line progress display on standard error for `tracemark detect`: documents,
// bytes, MB/s and, when the total input size is known, percentage and ETA. Used only
// when standard error is a terminal; redraws at most four times a second.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>

namespace tracemark::cli {

class progress_meter {
 public:
  // total_bytes 0: unknown (standard input, a pipe).
  progress_meter(bool enabled, uint64_t total_bytes);
  ~progress_meter();
  progress_meter(const progress_meter&) = delete;
  progress_meter& operator=(const progress_meter&) = delete;

  void update(int64_t documents, uint64_t bytes);
  // Removes the line (before writing results to the same terminal, and at the end).
  void clear();
  // Draws again after clear() (if enough time passed since the last draw).
  void redraw();

 private:
  void draw();
  bool enabled_;
  uint64_t total_;
  int64_t documents_ = 0;
  uint64_t bytes_ = 0;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace tracemark::cli
