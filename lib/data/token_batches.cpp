#include "data/token_batches.h"

#include "common/error.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace matquant::data {

at::Tensor pack_sequences(const std::vector<std::vector<int64_t>>& documents, const PackOptions& options) {
  if (options.seq_len < 1) throw_invalid("sequence length must be positive");
  const int64_t row = options.seq_len + 1;
  std::vector<int64_t> stream;
  for (const auto& doc : documents) {
    if (options.bos_id) stream.push_back(*options.bos_id);
    stream.insert(stream.end(), doc.begin(), doc.end());
    if (options.eos_id) stream.push_back(*options.eos_id);
    if (options.max_sequences >= 0 && int64_t(stream.size()) >= options.max_sequences * row) break;
  }
  int64_t rows = static_cast<int64_t>(stream.size()) / row;
  if (options.max_sequences >= 0) rows = std::min(rows, options.max_sequences);
  if (rows == 0) throw_invalid("not enough tokens for one sequence of the requested length");
  stream.resize(static_cast<size_t>(rows * row));
  return at::tensor(stream, at::kLong).view({rows, row});
}

std::vector<int64_t> shuffled_order(int64_t rows, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(rows));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

}  // namespace matquant::data
