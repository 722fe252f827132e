// save_pretrained's sharded layout (model-0000K-of-0000N.safetensors + model.safetensors.index.json,
// transformers' max_shard_size) read back by load_pretrained; transformers itself loads such a
// directory (tests/reference/check_sharded_export.py, run when transformers is installed).
#include "model/pretrained.h"

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

using namespace matquant;
namespace fs = boost::filesystem;

namespace {

std::vector<std::string> shard_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("model-", 0) == 0) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST(ShardedExport, ShardsAndIndexReadBackToTheSameWeights) {
  const std::string source = std::string(MATQUANT_FIXTURES_DIR) + "/models/llama";
  auto original = model::load_pretrained(source);
  const fs::path dir = fs::temp_directory_path() / fs::unique_path("matquant-sharded-export-%%%%%%");
  model::SaveOptions options;
  options.max_shard_bytes = 200'000;  // the tiny model's ~1 MB of weights in several files
  model::save_pretrained(original, dir.string(), options);
  const auto files = shard_files(dir);
  ASSERT_GT(files.size(), 2u);
  EXPECT_EQ(files.front(), "model-00001-of-" + fmt::format("{:05d}", files.size()) + ".safetensors");
  EXPECT_FALSE(fs::exists(dir / "model.safetensors"));
  std::ifstream in((dir / "model.safetensors.index.json").string());
  const auto index = nlohmann::json::parse(in);
  int64_t total = 0;
  for (auto& [name, tensor] : original->named_weights()) {
    total += tensor.numel() * int64_t(tensor.element_size());
    EXPECT_TRUE(index["weight_map"].contains(name)) << name;
  }
  EXPECT_EQ(index["metadata"]["total_size"].get<int64_t>(), total);
  auto reloaded = model::load_pretrained(dir.string());
  auto expected = original->named_weights();
  auto actual = reloaded->named_weights();
  ASSERT_EQ(expected.size(), actual.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(at::equal(expected[i].second, actual[i].second)) << expected[i].first;
  }
  // Written again unsharded (in bf16): the shards and the index are gone, the single file is read.
  options.max_shard_bytes = int64_t(1) << 40;
  options.dtype = at::kBFloat16;
  model::save_pretrained(original, dir.string(), options);
  EXPECT_TRUE(shard_files(dir).empty());
  EXPECT_FALSE(fs::exists(dir / "model.safetensors.index.json"));
  auto bf16 = model::load_pretrained(dir.string());
  EXPECT_TRUE(at::equal(bf16->embed_tokens, original->embed_tokens.to(at::kBFloat16).to(at::kFloat)));
  fs::remove_all(dir);
}
