// A closed-loop load generator for `tracemark serve` (docs/PERFORMANCE.md, "Server under
// load"). C client threads each send POST /v1/completions back to back (a new seed per
// request) for a fixed time, then the program prints one JSON line: requests/s, generated
// tokens/s (from "usage"), latency percentiles and errors.
//
// Loopback only: the target must be 127.0.0.0/8 or ::1; the run is bounded in time and in
// requests, and stops by itself.
//
//   load_client --port 8080 --key sk-... [--host 127.0.0.1] [--concurrency 4] [--duration 30]
//               [--max-tokens 64] [--prompt "Once upon a time"] [--stream] [--max-requests 1000000]
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using nlohmann::json;
using steady = std::chrono::steady_clock;

struct options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string key;
  int concurrency = 1;
  double duration = 30.0;
  int max_tokens = 64;
  std::string prompt = "Once upon a time";
  bool stream = false;
  long max_requests = 1000000;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "load_client: %s\nusage: load_client --port N --key KEY [--host 127.0.0.1] [--concurrency C] "
               "[--duration S] [--max-tokens T] [--prompt TEXT] [--stream] [--max-requests R]\n",
               why.c_str());
  std::exit(2);
}

bool loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

struct sample {
  double ms = 0;
  int64_t tokens = 0;
  int status = 0;  // 0: transport error
};

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

// Completion tokens of one answer: "usage" of the JSON body, or of the last SSE usage chunk.
int64_t completion_tokens(const std::string& body, bool stream) {
  if (!stream) {
    const json j = json::parse(body, nullptr, false);
    return j.is_object() && j.contains("usage") ? j["usage"].value("completion_tokens", int64_t{0}) : 0;
  }
  const size_t at = body.rfind("\"usage\"");
  if (at == std::string::npos) return 0;
  const size_t start = body.rfind("data: ", at);
  const size_t end = body.find("\n\n", at);
  if (start == std::string::npos || end == std::string::npos) return 0;
  const json j = json::parse(body.substr(start + 6, end - start - 6), nullptr, false);
  return j.is_object() && j.contains("usage") ? j["usage"].value("completion_tokens", int64_t{0}) : 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value for " + a);
      return argv[++i];
    };
    if (a == "--host") o.host = value();
    else if (a == "--port") o.port = std::atoi(value().c_str());
    else if (a == "--key") o.key = value();
    else if (a == "--concurrency") o.concurrency = std::atoi(value().c_str());
    else if (a == "--duration") o.duration = std::atof(value().c_str());
    else if (a == "--max-tokens") o.max_tokens = std::atoi(value().c_str());
    else if (a == "--prompt") o.prompt = value();
    else if (a == "--stream") o.stream = true;
    else if (a == "--max-requests") o.max_requests = std::atol(value().c_str());
    else usage("unknown argument " + a);
  }
  if (o.port <= 0 || o.port > 65535) usage("--port is required");
  if (o.key.empty()) usage("--key is required");
  if (!loopback(o.host)) usage("only loopback targets (127.0.0.0/8, ::1, localhost) are allowed");
  if (o.concurrency < 1 || o.concurrency > 256) usage("--concurrency must lie in 1..256");
  if (!(o.duration > 0.0 && o.duration <= 600.0)) usage("--duration must lie in (0, 600] seconds");

  std::atomic<long> issued{0};
  std::atomic<uint32_t> next_seed{1};
  std::mutex mu;
  std::vector<sample> samples;
  const auto start = steady::now();
  const auto stop_at = start + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o.duration));

  std::vector<std::thread> threads;
  for (int t = 0; t < o.concurrency; ++t)
    threads.emplace_back([&] {
      httplib::Client c(o.host, o.port);  // keep-alive: one connection per client thread
      c.set_keep_alive(true);
      c.set_tcp_nodelay(true);  // else Nagle + delayed ACK add ~40 ms to each request
      c.set_read_timeout(120, 0);
      const httplib::Headers h{{"Authorization", "Bearer " + o.key}};
      std::vector<sample> mine;
      while (steady::now() < stop_at && issued.fetch_add(1) < o.max_requests) {
        json body = {{"model", "load"},   {"prompt", o.prompt}, {"max_tokens", o.max_tokens},
                     {"temperature", 1.0}, {"seed", next_seed.fetch_add(1)}};
        if (o.stream) body["stream"] = true, body["stream_options"] = {{"include_usage", true}};
        const auto t0 = steady::now();
        httplib::Result r = c.Post("/v1/completions", h, body.dump(), "application/json");
        sample s;
        s.ms = std::chrono::duration<double, std::milli>(steady::now() - t0).count();
        if (r) {
          s.status = r->status;
          if (r->status == 200) s.tokens = completion_tokens(r->body, o.stream);
        }
        mine.push_back(s);
      }
      std::lock_guard lock(mu);
      samples.insert(samples.end(), mine.begin(), mine.end());
    });
  for (std::thread& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(steady::now() - start).count();

  std::vector<double> ok_ms;
  int64_t tokens = 0;
  std::map<std::string, long> errors;
  for (const sample& s : samples) {
    if (s.status == 200) {
      ok_ms.push_back(s.ms);
      tokens += s.tokens;
    } else {
      ++errors[s.status == 0 ? "transport" : std::to_string(s.status)];
    }
  }
  json out;
  out["concurrency"] = o.concurrency;
  out["duration_s"] = elapsed;
  out["max_tokens"] = o.max_tokens;
  out["stream"] = o.stream;
  out["requests_ok"] = ok_ms.size();
  out["errors"] = errors;
  out["requests_per_s"] = static_cast<double>(ok_ms.size()) / elapsed;
  out["tokens_per_s"] = static_cast<double>(tokens) / elapsed;
  out["tokens_per_request"] = ok_ms.empty() ? 0.0 : static_cast<double>(tokens) / static_cast<double>(ok_ms.size());
  out["latency_ms"] = {{"p50", percentile(ok_ms, 0.50)},
                       {"p90", percentile(ok_ms, 0.90)},
                       {"p99", percentile(ok_ms, 0.99)},
                       {"max", ok_ms.empty() ? 0.0 : *std::max_element(ok_ms.begin(), ok_ms.end())}};
  std::printf("%s\n", out.dump().c_str());
  return errors.empty() ? 0 : 1;
}
