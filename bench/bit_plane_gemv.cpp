// Decode-sized matmuls (batch 1 and 16) of a real model's linear shapes, straight from the bit-plane
// code store (quant::bit_plane_linear: the r-bit slice reads r + 1 bits per weight) and from the
// slice's own pack (quant::slice_pack_linear: 2, 4 or 8 bits per weight), against bf16 cuBLAS
// (at::linear on the bf16 weight, what a bf16 model runs) and against the fake-quant path of
// today's evaluation (dequantize the slice, then at::linear), in one process.
//
// Times are device times: each path's calls are captured in a CUDA graph and replayed, so host launch
// overhead does not hide a kernel shorter than it. Each call uses the next of enough weight copies to
// exceed the L2 cache several times over, so every byte comes from HBM. GB/s counts the bytes the call
// must read (code planes or packed levels of the slice, scales and zero points, activations) and write.
// The slice pack is timed twice: chained (as `matquant generate` launches it: a call may start while
// the previous one ends, as a decode step's back-to-back projections do; two row tiles per warp at
// batch 1) and isolated (each call starts after the previous ends; one row tile). cuBLAS's launches
// are its own: they are timed as they come. At batch 1 two chained floors are timed too: the integer
// kernel's grid, launch, reads of x and writes of y without its arithmetic, and the same also
// streaming the levels; no chained call of that shape on that grid can beat them.
//   matquant_bench_bit_planes --shape mistral-7b-shape,gemma2-9b-shape --batch 1,16
#include "bench/bench_common.h"
#include "quant/bit_planes.h"
#include "kernels/slice_pack_ops.h"
#include "quant/slice_pack.h"

#include <boost/program_options.hpp>
#include <fmt/format.h>

#ifdef MATQUANT_BENCH_CUDA_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <algorithm>
#include <functional>
#include <sstream>

namespace po = boost::program_options;
using namespace matquant;

namespace {

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Microseconds per call of fn(i), i cycling over `copies`, replayed from a CUDA graph.
double device_us(const std::function<void(int64_t)>& fn, int64_t copies, int64_t calls) {
#ifdef MATQUANT_BENCH_CUDA_GRAPHS
  const c10::cuda::CUDAStream stream = c10::cuda::getStreamFromPool();
  const c10::cuda::CUDAStreamGuard guard(stream);
  for (int64_t i = 0; i < copies; ++i) fn(i);  // warm-up: allocations, kernel attributes, cuBLAS
  stream.synchronize();
  at::cuda::CUDAGraph graph;
  graph.capture_begin();
  for (int64_t i = 0; i < calls; ++i) fn(i % copies);
  graph.capture_end();
  graph.replay();
  stream.synchronize();
  const int replays = 5;
  const double start = bench::now_seconds();
  for (int r = 0; r < replays; ++r) graph.replay();
  stream.synchronize();
  return (bench::now_seconds() - start) * 1e6 / double(replays * calls);
#else
  (void)fn, (void)copies, (void)calls;
  throw Error(ErrorCode::kUsage, "matquant_bench_bit_planes needs a CUDA build (it times CUDA graphs)");
#endif
}

struct Linear {
  std::string name;
  int64_t rows, columns;
};

}  // namespace

int run(int argc, char** argv) {
  std::string shapes = "mistral-7b-shape,gemma2-9b-shape", batches = "1,16", bits_list = "8,4,2", only;
  int64_t calls = 200, group_size = 0;
  double l2_multiple = 4.0, l2_mib = 60.0, bandwidth_gbps = 4800.0;
  po::options_description options("options");
  options.add_options()("help", "help")
      ("shape", po::value(&shapes)->default_value(shapes), "built-in shapes (comma-separated) whose linears are timed")
      ("batch", po::value(&batches)->default_value(batches), "activation rows per call (1..16 use the kernel)")
      ("bits", po::value(&bits_list)->default_value(bits_list), "slice precisions r of the c = 8 store")
      ("linear", po::value(&only)->default_value(only), "time only these linears (q, k/v, q+k+v, o, gate/up, gate+up, down)")
      ("group-size", po::value(&group_size)->default_value(group_size), "0 = per channel, else a multiple of 128")
      ("calls", po::value(&calls)->default_value(calls), "calls captured per graph")
      ("l2-mib", po::value(&l2_mib)->default_value(l2_mib), "L2 size to defeat (H200: 60 MiB)")
      ("l2-multiple", po::value(&l2_multiple)->default_value(l2_multiple), "weight copies total this many L2s")
      ("bandwidth-gbps", po::value(&bandwidth_gbps)->default_value(bandwidth_gbps), "HBM peak (H200 4800)");
  po::variables_map vm;
  if (!bench::parse_options(argc, argv, options, vm)) return 0;
  const at::Device dev("cuda");
  fmt::print("Bit-plane matmul (c = 8 store, per-{} scales) vs bf16 cuBLAS and dequantize + cuBLAS; device "
             "time per call from CUDA graphs of {} calls; weights cycled over >= {} x {} MiB; HBM peak {} GB/s\n",
             group_size > 0 ? fmt::format("{}-column group", group_size) : std::string("channel"), calls, l2_multiple,
             l2_mib, bandwidth_gbps);
  fmt::print("{:<18}{:<8}{:>15}{:>6}{:>3}{:>10}{:>9}{:>7}{:>10}{:>9}{:>7}{:>10}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}\n", "shape",
             "linear", "[out, in]", "batch", "r", "planes us", "vs bf16", "%HBM", "pack us", "vs bf16", "%HBM",
             "isol. us", "vs bf16", "bf16 us", "bf16 %HBM", "deq us", "max|d|", "floor us", "+levels", "2/SM");
  // floor us (batch 1): chained calls of slice_pack_latency_floor, the integer kernel's grid and
  // launch, its reads of x and its writes of y, without its arithmetic; +levels: the same streaming
  // the pack's levels as the kernel does; 2/SM: +levels with two blocks an SM, so that the next
  // call's blocks load beside this call's (the kernel's registers hold it to one).
  // The floor of this harness: one tiny fill kernel per call, replayed the same way. No kernel
  // timed below can beat it, however few bytes it reads.
  const at::Tensor tiny = at::zeros({16}, at::TensorOptions(dev).dtype(at::kBFloat16));
  const double floor_us = device_us([&](int64_t) { tiny.fill_(1.0); }, 1, calls);
  fmt::print("floor: one tiny kernel per call takes {:.2f} us\n", floor_us);
  nlohmann::json rows = nlohmann::json::array();
  for (const std::string& shape : split(shapes)) {
    const model::ModelConfig c = model::parse_config(bench::shape_config(shape, 1), shape);
    const int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
    // q+k+v and gate+up: the joint packs `matquant generate` serves a layer's same-input
    // projections from (one call each; against one bf16 matmul of the stacked weights).
    const std::vector<Linear> linears = {{"q", q, h},
                                         {"k/v", kv, h},
                                         {"q+k+v", q + 2 * kv, h},
                                         {"o", h, q},
                                         {"gate/up", c.intermediate_size, h},
                                         {"gate+up", 2 * c.intermediate_size, h},
                                         {"down", h, c.intermediate_size}};
    for (const Linear& l : linears) {
      const std::vector<std::string> wanted = split(only);
      if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), l.name) == wanted.end()) continue;
      at::manual_seed(0);
      const double bf16_bytes = 2.0 * double(l.rows * l.columns);
      const int64_t copies = std::max<int64_t>(2, int64_t(l2_multiple * l2_mib * 1048576.0 / (bf16_bytes * 5.0 / 16.0)) + 1);
      // One random store, copied: every copy has the same codes, so one answer checks them all.
      const at::Tensor weight = at::randn({l.rows, l.columns}) * 0.02;
      const quant::NestedCodes codes = quant::NestedCodes::quantize(weight, 8, group_size);
      const quant::BitPlanes planes = quant::bit_planes_to(quant::pack_bit_planes(codes), dev);
      std::vector<quant::BitPlanes> stores(size_t(copies), planes);
      for (auto& s : stores) s.planes = planes.planes.clone();
      const int64_t bf16_copies = std::max<int64_t>(2, int64_t(l2_multiple * l2_mib * 1048576.0 / bf16_bytes) + 1);
      std::vector<at::Tensor> bf16_weights;
      const at::Tensor w_bf16 = weight.to(dev, at::kBFloat16);
      for (int64_t i = 0; i < bf16_copies; ++i) bf16_weights.push_back(w_bf16.clone());
      for (const std::string& batch_text : split(batches)) {
        const int64_t batch = std::stoll(batch_text);
        const at::Tensor x = at::randn({batch, l.columns}).to(dev, at::kBFloat16);
        const double bf16_us = device_us([&](int64_t i) { at::linear(x, bf16_weights[size_t(i)]); }, bf16_copies, calls);
        for (const std::string& bits_text : split(bits_list)) {
          const int r = std::stoi(bits_text);
          const auto mode = quant::SliceMode::kClamped;
          const double us = device_us([&](int64_t i) { quant::bit_plane_linear(stores[size_t(i)], x, r, mode); },
                                      copies, calls);
          const quant::SlicePack pack = quant::pack_slice(codes.to(dev), r, mode);
          const int64_t pack_copies =
              std::max<int64_t>(2, int64_t(l2_multiple * l2_mib * 1048576.0 / double(pack.level_bytes())) + 1);
          std::vector<quant::SlicePack> packs(size_t(pack_copies), pack);
          for (auto& p : packs) p.words = pack.words.clone();
          // Chained, as generate launches it: each call may start while the previous one finishes.
          // Isolated: each call starts after the previous one ends.
          const bool chained_before = kernels::slice_pack_chained_launch();
          kernels::set_slice_pack_chained_launch(true);
          const double pack_us =
              device_us([&](int64_t i) { quant::slice_pack_linear(packs[size_t(i)], x); }, pack_copies, calls);
          // Batch 1: the same chained calls of the integer kernel's grid without its arithmetic, without
          // and with streaming the levels (one block an SM, as the kernel, or two).
          auto streamed_floor_us = [&](int per_sm) {
            return device_us(
                [&](int64_t i) { kernels::slice_pack_latency_floor(l.rows, pack.width, x, packs[size_t(i)].words, per_sm); },
                pack_copies, calls);
          };
          double call_floor_us = 0.0, call_floor_levels_us = 0.0, call_floor_levels_2_us = 0.0;
          if (batch == 1) {
            call_floor_us = device_us([&](int64_t) { kernels::slice_pack_latency_floor(l.rows, pack.width, x); }, 1, calls);
            call_floor_levels_us = streamed_floor_us(1);
            call_floor_levels_2_us = streamed_floor_us(2);
          }
          kernels::set_slice_pack_chained_launch(false);
          const double isolated_us =
              device_us([&](int64_t i) { quant::slice_pack_linear(packs[size_t(i)], x); }, pack_copies, calls);
          kernels::set_slice_pack_chained_launch(chained_before);
          packs.clear();
          const double deq_us = device_us(
              [&](int64_t i) {
                at::linear(x, quant::dequantize_bit_planes(stores[size_t(i)], r, mode, at::kBFloat16));
              },
              std::min<int64_t>(copies, 8), std::min<int64_t>(calls, 40));
          const at::Tensor fake = at::linear(x, codes.to(dev).dequantize(r, mode, at::kBFloat16)).to(at::kFloat);
          auto relative_diff = [&](const at::Tensor& ours) {
            return ((ours.to(at::kFloat) - fake).abs().max() / fake.abs().max()).item<double>();
          };
          const double diff = std::max(relative_diff(quant::bit_plane_linear(planes, x, r, mode)),
                                       relative_diff(quant::slice_pack_linear(pack, x)));
          const double other_bytes = 8.0 * double(planes.scale.numel()) + 2.0 * double(batch * (l.columns + l.rows));
          const double gbps = (double(planes.code_bytes_read(r)) + other_bytes) / (us * 1e-6) / 1e9;
          const double pack_gbps = (double(pack.level_bytes()) + other_bytes) / (pack_us * 1e-6) / 1e9;
          const double bf16_gbps = (bf16_bytes + 2.0 * double(batch * (l.columns + l.rows))) / (bf16_us * 1e-6) / 1e9;
          fmt::print("{:<18}{:<8}{:>15}{:>6}{:>3}{:>10.2f}{:>8.2f}x{:>6.1f}%{:>10.2f}{:>8.2f}x{:>6.1f}%{:>10.2f}{:>8.2f}x"
                     "{:>10.2f}{:>9.1f}%{:>10.2f}{:>10.1e}{:>10}{:>10}{:>10}\n",
                     shape, l.name, fmt::format("[{}, {}]", l.rows, l.columns), batch, r, us, bf16_us / us,
                     100.0 * gbps / bandwidth_gbps, pack_us, bf16_us / pack_us, 100.0 * pack_gbps / bandwidth_gbps,
                     isolated_us, bf16_us / isolated_us, bf16_us, 100.0 * bf16_gbps / bandwidth_gbps, deq_us, diff,
                     batch == 1 ? fmt::format("{:.2f}", call_floor_us) : std::string("-"),
                     batch == 1 ? fmt::format("{:.2f}", call_floor_levels_us) : std::string("-"),
                     batch == 1 ? fmt::format("{:.2f}", call_floor_levels_2_us) : std::string("-"));
          rows.push_back({{"shape", shape}, {"linear", l.name}, {"rows", l.rows}, {"columns", l.columns},
                          {"batch", batch}, {"bits", r}, {"us", us}, {"bf16_us", bf16_us}, {"speedup", bf16_us / us},
                          {"gbps", gbps}, {"pack_us", pack_us}, {"pack_speedup", bf16_us / pack_us},
                          {"pack_gbps", pack_gbps}, {"pack_width", pack.width},
                          {"pack_isolated_us", isolated_us}, {"pack_isolated_speedup", bf16_us / isolated_us}, {"bf16_gbps", bf16_gbps},
                          {"dequantize_linear_us", deq_us}, {"max_rel_diff", diff}});
          if (batch == 1) {
            rows.back()["call_floor_us"] = call_floor_us;
            rows.back()["call_floor_levels_us"] = call_floor_levels_us;
            rows.back()["call_floor_levels_two_per_sm_us"] = call_floor_levels_2_us;
          }
        }
      }
    }
  }
  fmt::print("JSON {}\n", nlohmann::json{{"bench", "bit_plane_gemv"}, {"floor_us", floor_us}, {"rows", rows}}.dump());
  return 0;
}

int main(int argc, char** argv) {
  return bench::guarded_main("matquant_bench_bit_planes", [&] { return run(argc, argv); });
}
