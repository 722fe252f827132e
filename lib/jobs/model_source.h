#pragma once
// Where a run's model and text come from: a Hugging Face directory the user gives, or a built-in
// model that matquant makes itself (synthetic corpus -> SentencePiece tokenizer -> pretraining),
// cached under CACHE/builtin/NAME so every run of a sweep shares one copy.
#include <cstdint>
#include <string>
#include <vector>

namespace matquant::jobs {

struct BuiltinPretraining {
  int64_t documents = 6000;
  int64_t vocab_size = 512;
  int64_t steps = 300;
  int64_t batch_size = 16;
  int64_t seq_len = 128;
  double learning_rate = 3e-3;
};

// Returns a model directory (config.json, model.safetensors, tokenizer.model). "builtin:NAME" is
// created on first use (under a file lock) and reused afterwards.
// Pretraining runs on `device` ("cpu" or "cuda").
std::string resolve_model(const std::string& model, const std::string& cache_dir,
                          const std::string& device = "cpu", const BuiltinPretraining& pretraining = {});

// "synthetic" (the built-in corpus; split "train" or "validation") or a text file path.
std::vector<std::string> resolve_documents(const std::string& source, const std::string& split,
                                           int64_t max_documents = -1);

}  // namespace matquant::jobs
