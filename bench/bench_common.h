#pragma once
// Helpers shared by the benchmarks: real shapes from the built-in presets (random weights), size
// overrides for tiny CPU runs, FLOP counting, device sync and the final JSON line.
#include "model/decoder.h"
#include "model/initialization.h"

#include "common/failure.h"

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include <chrono>
#include <iostream>
#include <string>

namespace matquant::bench {

// The preset's config JSON with the benchmark's size overrides (values <= 0 keep the preset's).
inline nlohmann::json shape_config(const std::string& shape, int64_t layers, int64_t vocab = 0) {
  nlohmann::json json = model::builtin_config(shape);
  if (layers > 0) json["num_hidden_layers"] = layers;
  if (vocab > 0) json["vocab_size"] = vocab;
  return json;
}


// Parameters that take part in matrix multiplies: every projection of every block and the LM head
// (tied or not; the embedding lookup is not a matmul).
inline double matmul_parameters(const model::ModelConfig& c) {
  const double h = double(c.hidden_size);
  const double q = double(c.num_attention_heads * c.head_dim);
  const double kv = double(c.num_key_value_heads * c.head_dim);
  const double per_layer = h * q + 2.0 * h * kv + q * h + 3.0 * h * double(c.intermediate_size);
  return double(c.num_hidden_layers) * per_layer + double(c.vocab_size) * h;
}

// Model FLOPs of one forward + backward over `tokens` tokens in sequences of length `seq`:
//   6 * N_matmul * tokens + 12 * L * seq * (heads * head_dim) * tokens
// (2 FLOPs per multiply-add, backward = 2 x forward; attention scores Q K^T and P V over the full
// seq x seq square, which the eager softcapped attention computes). Recomputation is not counted.
inline double forward_backward_flops(const model::ModelConfig& c, double tokens, double seq) {
  const double attention = 12.0 * double(c.num_hidden_layers) * seq * double(c.num_attention_heads * c.head_dim);
  return (6.0 * matmul_parameters(c) + attention) * tokens;
}
// Forward only: a third of the above.
inline double forward_flops(const model::ModelConfig& c, double tokens, double seq) {
  return forward_backward_flops(c, tokens, seq) / 3.0;
}

// Parses a benchmark's options; prints them and returns false on --help.
inline bool parse_options(int argc, char** argv, const boost::program_options::options_description& options,
                          boost::program_options::variables_map& vm) {
  boost::program_options::store(boost::program_options::parse_command_line(argc, argv, options), vm);
  boost::program_options::notify(vm);
  if (vm.count("help")) {
    std::cout << options << "\n";
    return false;
  }
  return true;
}

// Runs a benchmark's body; any failure (CUDA out of memory included) ends as matquant's one line and
// documented exit code (common/failure.h) instead of an abort.
template <typename Body>
int guarded_main(const char* program, Body body) {
  try {
    return body();
  } catch (...) {
    const Failure failure = describe_failure(std::current_exception());
    std::cerr << program << ": error: " << failure.message << "\n";
    return failure.exit_code();
  }
}

inline void sync(const at::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Mean milliseconds per call of fn over `iterations` calls after two warm-up calls, the device
// synchronised before and after (wall time of the whole loop, so kernels queue as in real use).
template <typename Fn>
double mean_ms_per_call(Fn&& fn, int64_t iterations, const at::Device& device) {
  fn();
  fn();
  sync(device);
  const double start = now_seconds();
  for (int64_t i = 0; i < iterations; ++i) fn();
  sync(device);
  return (now_seconds() - start) * 1e3 / double(iterations);
}

inline void print_json_line(const std::string& bench, const nlohmann::json& config, const nlohmann::json& figures) {
  nlohmann::json line = {{"bench", bench}, {"config", config}, {"figures", figures}};
  std::cout << line.dump() << std::endl;
}

}  // namespace matquant::bench
