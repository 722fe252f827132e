#pragma once
// Packs tokenized documents into fixed-length training sequences: documents are joined with
// BOS (and EOS when given) and the stream is cut into rows of seq_len + 1 tokens (inputs + the
// next-token targets shifted by one).
#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace matquant::data {

struct PackOptions {
  int64_t seq_len = 128;
  std::optional<int64_t> bos_id;
  std::optional<int64_t> eos_id;
  int64_t max_sequences = -1;  // -1 = as many as the tokens fill; a partial last row is dropped
};

// Returns int64 [N, seq_len + 1].
at::Tensor pack_sequences(const std::vector<std::vector<int64_t>>& documents, const PackOptions& options);

// A shuffled epoch order of row indices, deterministic in seed.
std::vector<int64_t> shuffled_order(int64_t rows, uint64_t seed);

}  // namespace matquant::data
