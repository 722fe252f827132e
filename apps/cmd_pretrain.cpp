// `matquant pretrain --corpus DIR --family llama|gemma2 --out MODEL_DIR`: a small reference model
// pretrained from scratch on a corpus of `matquant corpus build`, saved as a Hugging Face directory
// (config.json, model.safetensors, tokenizer.model) with its validation log-perplexity and
// throughput in MODEL_DIR/pretrain.json.
#include "command_registry.h"

#include "common/error.h"
#include "data/documents.h"
#include "eval/perplexity.h"
#include "model/pretrained.h"
#include "model/tokenizer.h"
#include "train/pretraining.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include <boost/filesystem.hpp>
#include <chrono>
#include <fstream>
#include <iostream>

namespace po = boost::program_options;
namespace fs = boost::filesystem;

namespace matquant::apps {
namespace {

std::vector<std::vector<int64_t>> tokenize(const model::Tokenizer& tokenizer, const std::vector<std::string>& docs) {
  std::vector<std::vector<int64_t>> tokens(docs.size());
  at::parallel_for(0, int64_t(docs.size()), 64, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) tokens[size_t(i)] = tokenizer.encode(docs[size_t(i)], false);
  });
  return tokens;
}

int run_pretrain(const Args& args) {
  std::string corpus, family, out, size = "small", device = "cpu", save_dtype = "bf16";
  train::PretrainingOptions o;
  o.steps = 2000;
  o.batch_size = 32;
  o.seq_len = 512;
  o.learning_rate = 2e-3;
  int64_t max_documents = -1, validation_windows = 256;
  po::options_description options("options");
  options.add_options()
      ("corpus", po::value(&corpus)->required(), "corpus directory of `matquant corpus build` (train/validation.json.gz, tokenizer.model)")
      ("family", po::value(&family)->required(), "llama or gemma2")
      ("out", po::value(&out)->required(), "output Hugging Face model directory")
      ("size", po::value(&size)->default_value(size), "tiny (CPU checks) or small (the GPU reference model)")
      ("steps", po::value(&o.steps)->default_value(o.steps), "optimizer steps")
      ("batch", po::value(&o.batch_size)->default_value(o.batch_size), "sequences per step")
      ("seq-len", po::value(&o.seq_len)->default_value(o.seq_len), "tokens per sequence")
      ("lr", po::value(&o.learning_rate)->default_value(o.learning_rate), "peak learning rate (AdamW)")
      ("warmup", po::value(&o.warmup_steps)->default_value(o.warmup_steps), "warm-up steps (-1 = steps/10)")
      ("weight-decay", po::value(&o.weight_decay)->default_value(o.weight_decay), "AdamW weight decay")
      ("seed", po::value(&o.seed)->default_value(o.seed), "initialisation and batch-order seed")
      ("device", po::value(&device)->default_value(device), "cpu or cuda (bf16 autocast on cuda)")
      ("max-documents", po::value(&max_documents)->default_value(max_documents), "read at most N training documents (-1 = all)")
      ("validation-windows", po::value(&validation_windows)->default_value(validation_windows),
       "validation sequences of seq-len + 1 tokens scored at the end")
      ("save-dtype", po::value(&save_dtype)->default_value(save_dtype), "bf16 or fp32 weights in model.safetensors")
      ("log-every", po::value(&o.log_every)->default_value(o.log_every), "progress line every N steps");
  po::variables_map vm;
  if (!parse_command_line("pretrain", "--corpus DIR --family llama|gemma2 --out MODEL_DIR [options]", options, {}, args, vm)) {
    return 0;
  }
  if (save_dtype != "bf16" && save_dtype != "fp32") throw_usage("--save-dtype must be bf16 or fp32");
  const fs::path corpus_dir(corpus);
  const fs::path tokenizer_path = corpus_dir / "tokenizer.model";
  if (!fs::exists(tokenizer_path)) {
    throw Error(ErrorCode::kNotFound, tokenizer_path.string() + " does not exist (run `matquant corpus build` without --no-tokenizer)");
  }
  const at::Device dev(device);
  model::TokenizerOptions tokenizer_options;
  tokenizer_options.prefix = family == "gemma2" ? model::PrefixStyle::kGemma : model::PrefixStyle::kLlama;
  const auto tokenizer = model::Tokenizer::load(tokenizer_path.string(), tokenizer_options);
  const nlohmann::json config = train::pretraining_config(family, size, tokenizer.vocab_size());

  const auto load_start = std::chrono::steady_clock::now();
  data::DocumentReadOptions read;
  read.max_documents = max_documents;
  const auto train_tokens = tokenize(tokenizer, data::read_documents((corpus_dir / "train.json.gz").string(), read));
  const auto validation_tokens = tokenize(tokenizer, data::read_documents((corpus_dir / "validation.json.gz").string()));
  const at::Tensor sequences = train::pack_documents(train_tokens, o.seq_len, tokenizer.bos_id(), tokenizer.eos_id());
  const at::Tensor windows =
      train::pack_documents(validation_tokens, o.seq_len, tokenizer.bos_id(), tokenizer.eos_id(), validation_windows);
  std::cerr << fmt::format("[matquant] pretrain: {} train sequences of {} tokens ({:.1f} epochs in {} steps), {} validation "
                           "windows; tokenized in {:.1f} s\n",
                           sequences.size(0), o.seq_len, double(o.steps * o.batch_size) / double(sequences.size(0)), o.steps,
                           windows.size(0),
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count());

  auto net = train::new_random_model(config, family + "-" + size, dev, o.seed);
  const int64_t parameters = train::parameter_count(net);
  std::cerr << fmt::format("[matquant] pretrain: {} {} with {} parameters on {}\n", family, size, parameters, device);
  const auto summary = train::pretrain(net, sequences, o);
  if (dev.is_cuda()) torch::cuda::synchronize();
  const double tokens_per_s = double(summary.tokens) / summary.seconds;
  double final_loss = 0.0;
  const size_t tail = std::min<size_t>(20, summary.curve.size());
  for (size_t i = summary.curve.size() - tail; i < summary.curve.size(); ++i) final_loss += summary.curve[i].loss_by_bits.at(0);
  final_loss /= double(tail);

  const auto trained = eval::evaluate_perplexity(net, windows, 16);
  if (save_dtype == "bf16") net->to(at::kBFloat16);
  model::save_pretrained(net, out);
  fs::copy_file(tokenizer_path, fs::path(out) / "tokenizer.model", fs::copy_options::overwrite_existing);
  // Our pieces are Llama's (<unk>, <s>, </s>); without this file GemmaTokenizer would add its own
  // <bos>/<eos>/<pad> beyond the vocabulary. BOS is added, as in pretraining.
  model::write_tokenizer_config(out, family == "gemma2");
  // The saved directory itself, read back in fp32: what users of the model will measure.
  auto saved = model::load_pretrained(out, {at::kFloat, dev});
  const auto reloaded = eval::evaluate_perplexity(saved, windows, 16);
  const auto bytes = int64_t(fs::file_size(fs::path(out) / "model.safetensors"));

  const nlohmann::json report = {
      {"format_version", 1}, {"family", family}, {"size", size}, {"parameters", parameters},
      {"vocab_size", tokenizer.vocab_size()}, {"corpus", fs::absolute(corpus_dir).string()},
      {"steps", summary.steps}, {"batch_size", o.batch_size}, {"seq_len", o.seq_len},
      {"learning_rate", o.learning_rate}, {"train_sequences", sequences.size(0)}, {"tokens", summary.tokens},
      {"seconds", summary.seconds}, {"tokens_per_s", tokens_per_s}, {"final_train_loss", final_loss},
      {"validation", {{"windows", windows.size(0)}, {"tokens", trained.tokens},
                      {"log_pplx", reloaded.log_perplexity}, {"pplx", reloaded.perplexity},
                      {"log_pplx_fp32_weights", trained.log_perplexity}}},
      {"save_dtype", save_dtype}, {"safetensors_bytes", bytes}, {"device", device}};
  std::ofstream(fs::path(out).string() + "/pretrain.json") << report.dump(2) << "\n";
  fmt::print("pretrained {} {} ({} parameters) in {:.1f} s: {:.0f} tokens/s, final train loss {:.3f}\n", family, size,
             parameters, summary.seconds, tokens_per_s, final_loss);
  fmt::print("validation log-perplexity {:.4f} (perplexity {:.2f}) over {} tokens; fp32 weights {:.4f}\n",
             reloaded.log_perplexity, reloaded.perplexity, trained.tokens, trained.log_perplexity);
  fmt::print("wrote {} (model.safetensors {:.2f} MiB, {})\n", out, double(bytes) / (1 << 20), save_dtype);
  return 0;
}

const RegisterCommand kRegister{
    {"pretrain", "pretrain a small Llama or Gemma-2 reference model on a corpus directory", &run_pretrain}};

}  // namespace
}  // namespace matquant::apps
