#include "common/progress.h"

#include <string>

namespace tracemark::cli {

namespace {

std::string human_bytes(double b) {
  char buf[32];
  if (b < 1e3) std::snprintf(buf, sizeof buf, "%.0f B", b);
  else if (b < 1e6) std::snprintf(buf, sizeof buf, "%.1f kB", b / 1e3);
  else if (b < 1e9) std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  return buf;
}

std::string human_duration(double s) {
  char buf[32];
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

}  // namespace

progress_meter::progress_meter(bool enabled, uint64_t total_bytes)
    : enabled_(enabled), total_(total_bytes), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

progress_meter::~progress_meter() { clear(); }

void progress_meter::update(int64_t documents, uint64_t bytes) {
  documents_ = documents;
  bytes_ = bytes;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (shown_ && now - last_draw_ < std::chrono::milliseconds(250)) return;
  draw();
}

void progress_meter::redraw() {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - start_ < std::chrono::milliseconds(250)) return;  // short runs: no flicker
  draw();
}

void progress_meter::draw() {
  const auto now = std::chrono::steady_clock::now();
  last_draw_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double rate = secs > 0 ? static_cast<double>(bytes_) / secs : 0.0;
  std::string line = "\r\x1b[K" + std::to_string(documents_) + " documents  " + human_bytes(static_cast<double>(bytes_));
  if (total_ > 0) {
    char pct[32];
    std::snprintf(pct, sizeof pct, " / %s (%.0f%%)", human_bytes(static_cast<double>(total_)).c_str(),
                  100.0 * static_cast<double>(bytes_) / static_cast<double>(total_));
    line += pct;
  }
  line += "  " + human_bytes(rate) + "/s";
  if (total_ > 0 && rate > 0 && bytes_ <= total_)
    line += "  ETA " + human_duration(static_cast<double>(total_ - bytes_) / rate);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  shown_ = true;
}

void progress_meter::clear() {
  if (!enabled_ || !shown_) return;
  std::fputs("\r\x1b[K", stderr);
  std::fflush(stderr);
  shown_ = false;
}

}  // namespace tracemark::cli
