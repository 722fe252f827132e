// One MatQuant QAT step (R = {8, 4, 2}, lambdas (0.1, 0.1, 1)) through the real trainer
// (train::train_qat: one forward and backward per precision, fp32 master weights, bf16 autocast on
// CUDA, AdamW, gradient clipping) at a real shape with random weights. Runs warm-up + measured
// steps and times the measured ones. Reports tokens/s, model FLOPs utilisation and peak memory; the
// PyTorch eager reference is bench/reference/qat_step.py (bench/run_qat_step.sh runs both).
//   matquant_bench_qat_step --shape gemma2-2b-shape --layers 4 --batch 1 --seq 2048 --device cuda
// Sharded over N GPUs (train/sharded_qat_trainer.h; --batch is then per GPU) or with the AdamW
// moments offloaded to the host:
//   matquant_bench_qat_step --shape gemma2-9b-shape --layers 0 --nproc 2 --device cuda
//   matquant_bench_qat_step --shape gemma2-9b-shape --layers 0 --offload --device cuda
#include "bench/bench_common.h"
#include "bench/kernel_profile.h"
#include "common/device_memory.h"
#include "distributed/launch_environment.h"
#include "distributed/local_launcher.h"
#include "distributed/process_group.h"
#include "train/fused_optimizer_step.h"
#include "train/qat_trainer.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <thread>

#include <boost/program_options.hpp>
#include <fmt/format.h>

namespace po = boost::program_options;
using namespace matquant;

int run(int argc, char** argv) {
  std::string shape = "gemma2-2b-shape", device = "cuda", scope = "ffn";
  int64_t layers = 4, batch = 1, seq = 2048, steps = 3, warmup = 2, vocab = 0;
  double peak_tflops = 989.0;
  bool checkpointing = false, selective = false, profile = false, offload = false, eager = false;
  int nproc = 1;
  po::options_description options("options");
  options.add_options()("help", "help")
      ("shape", po::value(&shape)->default_value(shape), "built-in shape (gemma2-2b-shape, gemma2-9b-shape, mistral-7b-shape, tiny-gemma2, ...)")
      ("layers", po::value(&layers)->default_value(layers), "decoder blocks (0 = the preset's)")
      ("vocab", po::value(&vocab)->default_value(vocab), "vocabulary override for tiny runs (0 = the preset's)")
      ("batch", po::value(&batch)->default_value(batch), "sequences per step")
      ("seq", po::value(&seq)->default_value(seq), "tokens per sequence")
      ("steps", po::value(&steps)->default_value(steps), "measured steps")
      ("warmup", po::value(&warmup)->default_value(warmup), "warm-up steps (not measured)")
      ("scope", po::value(&scope)->default_value(scope), "quantized projections: ffn | ffn+attn")
      ("checkpointing", po::bool_switch(&checkpointing), "activation checkpointing")
      ("selective-checkpointing", po::bool_switch(&selective), "activation checkpointing that keeps the "
       "projections' outputs and quantized weights for the recomputation (train.activation_checkpointing_policy: selective)")
      ("eager", po::bool_switch(&eager), "launch every kernel from the host (QatConfig::cuda_graph = false); by default "
                                          "the single-GPU trainer replays each step's passes from a CUDA graph")
      ("nproc", po::value(&nproc)->default_value(nproc), "processes (one per GPU): QAT sharded across them, --batch per GPU")
      ("offload", po::bool_switch(&offload), "AdamW moments in pinned host memory (sharded trainer, one rank per GPU)")
      ("profile", po::bool_switch(&profile), "print a GPU kernel-time breakdown of the measured steps (Kineto; times slightly inflated)")
      ("peak-tflops", po::value(&peak_tflops)->default_value(peak_tflops), "dense bf16 peak for MFU (H100/H200 SXM: 989)")
      ("device", po::value(&device)->default_value(device), "cuda or cpu");
  po::variables_map vm;
  if (!bench::parse_options(argc, argv, options, vm)) return 0;
  const auto environment = distributed::launch_environment();
  if (nproc > 1 && !environment) {
    std::vector<std::string> args{distributed::own_executable()};
    for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
    return distributed::launch_local_ranks(nproc, distributed::without_option(args, "--nproc"));
  }
  const int world = environment ? environment->world_size : 1;
  const bool rank_zero = !environment || environment->rank == 0;
  if (environment && device == "cuda") device = "cuda:" + std::to_string(environment->local_rank);
  if (environment) {
    at::set_num_threads(std::max(1, int(std::thread::hardware_concurrency()) / world));
  }
  const at::Device dev(device);
  std::shared_ptr<distributed::Communicator> communicator;
  if (environment) communicator = distributed::connect(*environment, dev);
  const bool sharded = communicator || offload;
  const nlohmann::json json = bench::shape_config(shape, layers, vocab);
  const model::ModelConfig config = model::parse_config(json, shape);
  model::DecoderModel net(config);
  model::initialize_random(net, 0.02, 0);
  // fp32 master weights, as the trainer keeps them; sharded, only each rank's shards reach its GPU.
  if (!sharded) net->to(dev);
  net->enable_quantization(model::parse_quant_scope(scope), model::QuantizerConfig{});

  const int64_t total_steps = warmup + steps;
  at::manual_seed(0);
  const at::Tensor sequences = at::randint(3, config.vocab_size, {batch * world * total_steps, seq + 1}, at::kLong);

  train::QatConfig qat;
  qat.objective = train::Objective::plain({8, 4, 2}, {0.1, 0.1, 1.0});
  qat.schedule.peak = 1e-5;
  qat.schedule.warmup_steps = 0;
  qat.schedule.total_steps = total_steps;
  qat.schedule.cosine = false;
  qat.batch_size = batch * world;  // the global batch
  qat.communicator = communicator;
  qat.offload_optimizer_state = offload;
  if (sharded) qat.shard_device = dev;
  qat.gradient_clip = 1.0;
  qat.bf16_autocast = true;
  qat.activation_checkpointing = checkpointing || selective;
  qat.selective_checkpointing = selective;
  qat.cuda_graph = !eager;
  std::vector<double> ends;  // wall time at the end of each step, after a device sync
  bench::KernelProfile profiler;
  qat.on_step = [&](const train::StepReport& report) {
    bench::sync(dev);
    ends.push_back(bench::now_seconds());
    if (profile && report.step == warmup) profiler.start();
    if (!rank_zero) return;
    fmt::print("  step {}/{}: loss int8 {:.4f} int4 {:.4f} int2 {:.4f}\n", report.step, report.total_steps,
               report.loss_by_bits.at(8), report.loss_by_bits.at(4), report.loss_by_bits.at(2));
  };
  double params = 0.0;
  for (const auto& p : net->parameters()) params += double(p.numel());
  if (rank_zero) {
    fmt::print("QAT step, MatQuant R={{8,4,2}} lambdas (0.1,0.1,1), {} ({} layers, {:.1f}M params), batch {} x seq {}{}, "
               "scope {}, {} warm-up + {} measured steps, {}{}{}\n",
               shape, config.num_hidden_layers, params / 1e6, batch, seq, world > 1 ? " per GPU" : "", scope, warmup,
               steps, device, dev.is_cuda() ? " (bf16 autocast, fp32 master weights)" : " (fp32)",
               sharded ? fmt::format(", sharded over {} process(es){}", world, offload ? ", AdamW moments on the host" : "")
                       : "");
  }
  bench::sync(dev);
  reset_peak_device_memory(dev);
  if (profile && warmup == 0) profiler.start();
  const double start = bench::now_seconds();
  const auto summary = train::train_qat(net, sequences, qat);
  if (summary.diverged || int64_t(ends.size()) != total_steps) {
    fmt::print(stderr, "training stopped early (diverged: {})\n", summary.diverged);
    return 1;
  }
  if (!rank_zero) return 0;
  const double peak_gib = peak_device_memory(dev) / double(1ull << 30);
  const double reserved_gib = peak_reserved_device_memory(dev) / double(1ull << 30);
  const double measured_start = warmup > 0 ? ends[size_t(warmup - 1)] : start;
  const double step_seconds = (ends.back() - measured_start) / double(steps);
  if (profile) profiler.stop_and_print(ends.back() - measured_start, double(steps));
  const double tokens_per_step = double(batch * world * seq);
  const double flops_per_step = 3.0 * bench::forward_backward_flops(config, tokens_per_step, double(seq));
  const double tflops = flops_per_step / step_seconds / 1e12 / double(world);  // per GPU
  const double mfu = tflops / peak_tflops;
  fmt::print("FLOPs per step = 3 precisions x (6 * N_matmul + 12 * L * seq * heads * head_dim) * tokens;\n"
             "  N_matmul = {:.4g} (projections + LM head), {:.4g} FLOPs per step; MFU against {} TFLOP/s bf16 dense\n",
             bench::matmul_parameters(config), flops_per_step, peak_tflops);
  if (!sharded && dev.is_cuda()) {
    fmt::print("step passes {}\n", summary.cuda_graph ? "replayed from a CUDA graph (captured at the first step)"
                                                       : "launched eagerly");
  }
  if (sharded) fmt::print("TFLOP/s, MFU and peak GiB are per GPU (rank 0); tokens/s is the whole step's\n");
  fmt::print("{:<12}{:>14}{:>14}{:>12}{:>10}{:>12}{:>14}\n", "impl", "s / step", "tokens/s", "TFLOP/s", "MFU", "peak GiB",
             "reserved GiB");
  fmt::print("{:<12}{:>14.4f}{:>14.1f}{:>12.2f}{:>9.1f}%{:>12.2f}{:>14.2f}\n", "matquant", step_seconds,
             tokens_per_step / step_seconds, tflops, 100.0 * mfu, peak_gib, reserved_gib);
  bench::print_json_line(
      "qat_step",
      {{"impl", "matquant"}, {"shape", shape}, {"layers", config.num_hidden_layers}, {"vocab", config.vocab_size},
       {"batch", batch}, {"seq", seq}, {"steps", steps}, {"warmup", warmup}, {"scope", scope},
       {"checkpointing", checkpointing || selective || sharded}, {"selective_checkpointing", selective}, {"device", device}, {"peak_tflops", peak_tflops},
       {"processes", world}, {"offload", offload},
       {"cuda_graph", summary.cuda_graph}},
      {{"seconds_per_step", step_seconds}, {"tokens_per_s", tokens_per_step / step_seconds},
       {"tflops", tflops}, {"mfu", mfu}, {"peak_gib", peak_gib}, {"reserved_gib", reserved_gib}, {"flops_per_step", flops_per_step},
       {"params", params}, {"matmul_params", bench::matmul_parameters(config)},
       {"final_loss_int2", summary.curve.back().loss_by_bits.at(2)}});
  return 0;
}

int main(int argc, char** argv) {
  return bench::guarded_main("matquant_bench_qat_step", [&] { return run(argc, argv); });
}
