// `matquant forward`: logits of a Hugging Face model directory for given token ids, and forward
// throughput. Used by the parity scripts (tests/reference/) to compare with transformers.
#include "command_registry.h"
#include "model_options.h"

#include "common/error.h"
#include "model/pretrained.h"
#include "model/safetensors.h"
#include "quant/mix_n_match.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include <chrono>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

int run_forward(const Args& args) {
  std::string model_dir, input, output, dtype = "fp32", device = "cpu", precision, scope = "ffn";
  int repeat = 0;
  int warmup = 1;
  po::options_description options("options");
  options.add_options()
      ("model", po::value(&model_dir)->required(), "Hugging Face model directory")
      ("input", po::value(&input)->required(), "safetensors with input_ids [B,T] (and attention_mask)")
      ("output", po::value(&output), "write logits (float32) here")
      ("dtype", po::value(&dtype)->default_value(dtype), "fp32, bf16 or fp16")
      ("device", po::value(&device)->default_value(device), "cpu or cuda")
      ("precision", po::value(&precision), "quantize (MinMax, int8 codes) and serve this precision or plan")
      ("scope", po::value(&scope)->default_value(scope), "ffn or ffn+attn (with --precision)")
      ("repeat", po::value(&repeat)->default_value(repeat), "timed forward passes for tokens/s")
      ("warmup", po::value(&warmup)->default_value(warmup), "untimed passes before timing");
  po::variables_map vm;
  if (!parse_command_line("forward", "--model DIR --input FILE [options]", options, {}, args, vm)) return 0;

  c10::NoGradGuard no_grad;
  const at::Device dev(device);
  const auto load_start = std::chrono::steady_clock::now();
  auto model = model::load_pretrained(model_dir, {parse_dtype(dtype), dev});
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  model->eval();
  if (vm.count("precision")) {
    quantize_in_place(model, scope);
    model->set_precision(quant::plan_from_text(precision, int(model->layers.size())));
  }
  const auto reader = model::SafetensorsReader::open(input);
  const at::Tensor ids = reader.load("input_ids", at::kLong, dev);
  const at::Tensor mask = reader.contains("attention_mask") ? reader.load("attention_mask", at::kLong, dev) : at::Tensor();
  auto sync = [&] { if (dev.is_cuda()) torch::cuda::synchronize(); };
  at::Tensor logits;
  for (int i = 0; i < warmup; ++i) logits = model->forward(ids, mask);
  sync();
  if (repeat > 0) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < repeat; ++i) logits = model->forward(ids, mask);
    sync();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("forward: {} x [{} x {}] tokens, {:.4f} s/pass, {:.0f} tokens/s (load {:.1f} s)\n", repeat,
               ids.size(0), ids.size(1), s / repeat, double(ids.numel()) * repeat / s, load_s);
  } else if (!logits.defined()) {
    logits = model->forward(ids, mask);
  }
  if (!output.empty()) model::write_safetensors(output, {{"logits", logits.to(at::kFloat).cpu()}});
  return 0;
}

const RegisterCommand kRegister{
    {"forward", "logits and tokens/s of a Hugging Face model directory for given token ids", &run_forward}};

}  // namespace
}  // namespace matquant::apps
