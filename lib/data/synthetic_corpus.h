#pragma once
// A deterministic English-like corpus for the quickstart and tests, so the suite runs with nothing
// downloaded. It has structure a tiny model can learn (a small grammar with agreement, counting and
// arithmetic facts), so quantization damage shows up as a measurable rise in perplexity.
#include <cstdint>
#include <string>
#include <vector>

namespace matquant::data {

std::vector<std::string> synthetic_documents(int64_t count, uint64_t seed);

}  // namespace matquant::data
