#pragma once
// Pretraining from scratch: the one loop behind the built-in models (lib/jobs/model_source) and
// `matquant pretrain` (reference models on the corpus of `matquant corpus build`). Random init as
// lib/model/initialization, AdamW, linear warm-up then cosine decay, bf16 autocast on CUDA (it is
// the QAT trainer with quantization off), and the size presets of the reference models.
#include "model/decoder.h"
#include "train/qat_trainer.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace matquant::train {

struct PretrainingOptions {
  int64_t steps = 300;
  int64_t batch_size = 16;
  int64_t seq_len = 128;
  double learning_rate = 3e-3;
  int64_t warmup_steps = -1;  // -1 = steps / 10
  double min_lr_ratio = 0.1;
  double weight_decay = 0.01;
  uint64_t seed = 0;
  int64_t log_every = 50;     // progress line on stderr every N steps (0 = none)
};

// Config JSON of a reference model: family "llama" or "gemma2", size "tiny" (CPU checks, ~0.2M
// parameters besides embeddings), "small" (the GPU reference, ~4.7M), "base" (~8.4M: bf16 over
// 16 MiB with a 4096 vocabulary). vocab_size from the tokenizer.
nlohmann::json pretraining_config(const std::string& family, const std::string& size, int64_t vocab_size);

// A randomly initialised model (normal(0, 0.02), seeded) of `config` on `device`.
model::DecoderModel new_random_model(const nlohmann::json& config, const std::string& source, at::Device device,
                                     uint64_t seed = 0);

// Tokenized documents (each already without BOS/EOS) packed into [N, seq_len + 1] rows with BOS
// before and EOS after every document. max_rows -1 = all.
at::Tensor pack_documents(const std::vector<std::vector<int64_t>>& documents, int64_t seq_len, int64_t bos_id,
                          int64_t eos_id, int64_t max_rows = -1);

// Trains `model` in place on `sequences`. Throws ErrorCode::kDiverged on NaN/Inf loss.
TrainingSummary pretrain(model::DecoderModel& model, const at::Tensor& sequences, const PretrainingOptions& options);

int64_t parameter_count(model::DecoderModel& model);

}  // namespace matquant::train
