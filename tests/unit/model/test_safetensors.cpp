#include "model/safetensors.h"

#include "common/error.h"

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>

#include <fstream>

using namespace matquant::model;
namespace fs = boost::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("matquant_st_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const matquant::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Safetensors, EveryDtypeRoundTripsBitExactly) {
  const fs::path dir = fresh_dir("dtypes");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto type : {at::kFloat, at::kBFloat16, at::kHalf, at::kDouble, at::kLong, at::kInt, at::kShort, at::kChar,
                    at::kByte, at::kBool}) {
    at::Tensor t = (at::randn({3, 5}) * 50).to(type);
    tensors.emplace_back(std::string("t_") + c10::toString(type), t);
  }
  const std::string path = (dir / "all.safetensors").string();
  write_safetensors(path, tensors, {{"format", "pt"}, {"note", "x"}});
  const auto reader = SafetensorsReader::open(path);
  EXPECT_EQ(reader.metadata().at("note"), "x");
  for (const auto& [name, t] : tensors) {
    const at::Tensor back = reader.load(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(at::equal(back, t)) << name;
  }
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(Safetensors, ConvertsAndChecksShapes) {
  const fs::path dir = fresh_dir("convert");
  const at::Tensor w = at::randn({4, 6});
  write_safetensors((dir / "model.safetensors").string(), {{"w", w}});
  const auto reader = SafetensorsReader::open(dir.string());
  EXPECT_EQ(reader.load("w", at::kBFloat16).scalar_type(), at::kBFloat16);
  const std::string message = error_of([&] { reader.load("w", std::nullopt, at::kCPU, std::vector<int64_t>{6, 4}); });
  EXPECT_NE(message.find("'w'"), std::string::npos) << message;
  EXPECT_NE(message.find("[4, 6]"), std::string::npos) << message;
  EXPECT_NE(message.find("model.safetensors"), std::string::npos) << message;
  EXPECT_NE(error_of([&] { reader.load("missing"); }).find("missing"), std::string::npos);
}

TEST(Safetensors, ReadsShardsThroughTheIndex) {
  const fs::path dir = fresh_dir("shards");
  const at::Tensor a = at::randn({2, 2});
  const at::Tensor b = at::arange(6, at::kLong);
  write_safetensors((dir / "model-00001-of-00002.safetensors").string(), {{"a", a}});
  write_safetensors((dir / "model-00002-of-00002.safetensors").string(), {{"b", b}});
  std::ofstream((dir / "model.safetensors.index.json").string())
      << R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                              "b": "model-00002-of-00002.safetensors"}})";
  const auto reader = SafetensorsReader::open(dir.string());
  EXPECT_EQ(reader.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(at::equal(reader.load("a"), a));
  EXPECT_TRUE(at::equal(reader.load("b"), b));

  // An index naming a tensor its shard does not hold is an error naming both.
  std::ofstream((dir / "model.safetensors.index.json").string())
      << R"({"weight_map": {"a": "model-00002-of-00002.safetensors"}})";
  const std::string message = error_of([&] { SafetensorsReader::open(dir.string()); });
  EXPECT_NE(message.find("'a'"), std::string::npos) << message;
}

TEST(Safetensors, TruncatedAndCorruptFilesAreClearErrors) {
  const fs::path dir = fresh_dir("truncated");
  const std::string path = (dir / "x.safetensors").string();
  write_safetensors(path, {{"big", at::randn({64, 64})}});
  fs::resize_file(path, fs::file_size(path) - 100);
  const std::string message = error_of([&] { SafetensorsReader::open(path); });
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  EXPECT_NE(message.find("'big'"), std::string::npos) << message;

  std::ofstream(path, std::ios::trunc) << "not a safetensors file at all";
  EXPECT_FALSE(error_of([&] { SafetensorsReader::open(path); }).empty());
  EXPECT_NE(error_of([&] { SafetensorsReader::open((dir / "none").string()); }).find("none"), std::string::npos);
}

TEST(Safetensors, ReadsTheFilesTransformersWrote) {
  const auto reader = SafetensorsReader::open(std::string(MATQUANT_FIXTURES_DIR) + "/models/qwen2");
  EXPECT_EQ(reader.info("model.layers.0.self_attn.q_proj.bias").dtype, "F32");
  EXPECT_EQ(reader.info("model.embed_tokens.weight").shape, (std::vector<int64_t>{256, 64}));
}
