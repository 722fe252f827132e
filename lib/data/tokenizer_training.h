#pragma once
// Trains a SentencePiece tokenizer (BPE with byte fallback, Llama-style ids: <unk>=0, <s>=1,
// </s>=2) on documents, writing OUTPUT_DIR/tokenizer.model.
#include <cstdint>
#include <string>
#include <vector>

namespace matquant::data {

struct TokenizerTrainingOptions {
  int64_t vocab_size = 512;
  int threads = 2;
  uint64_t seed = 0;
};

// Returns the path of the written tokenizer.model.
std::string train_tokenizer(const std::vector<std::string>& documents, const std::string& output_dir,
                            const TokenizerTrainingOptions& options = {});

}  // namespace matquant::data
