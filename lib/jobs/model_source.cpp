#include "jobs/model_source.h"

#include "common/error.h"
#include "data/documents.h"
#include "data/synthetic_corpus.h"
#include "data/tokenizer_training.h"
#include "model/initialization.h"
#include "model/pretrained.h"
#include "model/tokenizer.h"
#include "train/pretraining.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <fstream>
#include <iostream>

namespace matquant::jobs {

namespace fs = boost::filesystem;

namespace {

constexpr const char* kBuiltinPrefix = "builtin:";
constexpr uint64_t kTrainSeed = 1;
constexpr uint64_t kValidationSeed = 2;

class FileLock {
 public:
  explicit FileLock(const fs::path& path) : fd_(::open(path.c_str(), O_CREAT | O_RDWR, 0644)) {
    if (fd_ < 0 || ::flock(fd_, LOCK_EX) != 0) throw Error(ErrorCode::kIo, "cannot lock " + path.string());
  }
  ~FileLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_;
};

bool is_gemma_family(const nlohmann::json& config) {
  return config.value("model_type", std::string()).rfind("gemma", 0) == 0;
}

bool is_shape_only(const std::string& name) {
  return name.size() > 6 && name.compare(name.size() - 6, 6, "-shape") == 0;
}

// A published shape cached before shapes kept their vocabulary (it was pretrained at the
// tokenizer's 512 entries): not the shape its name promises, so it is made again.
bool stale_shape(const std::string& name, const fs::path& dir) {
  if (!is_shape_only(name)) return false;
  std::ifstream in((dir / "config.json").string());
  const auto config = nlohmann::json::parse(in, nullptr, false);
  return config.is_discarded() || config.value("vocab_size", 0) != model::builtin_config(name).value("vocab_size", -1);
}

void build_builtin_model(const std::string& name, const fs::path& dir, const BuiltinPretraining& p,
                         const std::string& device) {
  const fs::path staging = dir.string() + ".staging";
  fs::remove_all(staging);
  fs::create_directories(staging);
  // A published shape (gemma2-9b-shape, ...) is for measuring at real scale: its random weights keep
  // the published vocabulary (the embedding is much of the memory) and are not pretrained (300
  // steps of plain AdamW on 9B parameters would not fit one GPU, and teach nothing of use).
  const bool shape_only = is_shape_only(name);
  std::cerr << "[matquant] building built-in model " << name << " (synthetic corpus, tokenizer, "
            << (shape_only ? std::string("random weights of the published shape")
                           : std::to_string(p.steps) + " pretraining steps")
            << ") into " << dir << "\n";
  const auto documents = data::synthetic_documents(p.documents, kTrainSeed);
  data::TokenizerTrainingOptions tokenizer_options;
  tokenizer_options.vocab_size = p.vocab_size;
  data::train_tokenizer(documents, staging.string(), tokenizer_options);
  const auto tokenizer = model::Tokenizer::load((staging / "tokenizer.model").string());

  nlohmann::json config_json = model::builtin_config(name);
  if (!shape_only) config_json["vocab_size"] = tokenizer.vocab_size();
  auto net = train::new_random_model(config_json, "builtin:" + name, at::Device(device), 0);
  if (shape_only) {
    model::SaveOptions save;
    save.dtype = at::kBFloat16;  // half the disk; the weights are random anyway
    model::save_pretrained(net, staging.string(), save);
    model::write_tokenizer_config(staging.string(), is_gemma_family(config_json));
    fs::rename(staging, dir);
    return;
  }

  std::vector<std::vector<int64_t>> tokens;
  for (const auto& d : documents) tokens.push_back(tokenizer.encode(d, false));
  const at::Tensor sequences = train::pack_documents(tokens, p.seq_len, tokenizer.bos_id(), tokenizer.eos_id());

  train::PretrainingOptions options;
  options.steps = p.steps;
  options.batch_size = p.batch_size;
  options.seq_len = p.seq_len;
  options.learning_rate = p.learning_rate;
  train::pretrain(net, sequences, options);
  model::save_pretrained(net, staging.string());
  model::write_tokenizer_config(staging.string(), is_gemma_family(config_json));
  fs::rename(staging, dir);
}

}  // namespace

std::string resolve_model(const std::string& model, const std::string& cache_dir, const std::string& device,
                          const BuiltinPretraining& pretraining) {
  if (model.rfind(kBuiltinPrefix, 0) != 0) {
    if (!fs::exists(fs::path(model) / "config.json")) {
      throw Error(ErrorCode::kNotFound, "model directory " + model + " has no config.json");
    }
    return model;
  }
  const std::string name = model.substr(std::string(kBuiltinPrefix).size());
  model::builtin_config(name);  // validates the name
  const fs::path dir = fs::path(cache_dir) / "builtin" / name;
  if (fs::exists(dir / "config.json") && stale_shape(name, dir)) {
    fs::create_directories(dir.parent_path());
    FileLock lock(dir.string() + ".lock");
    if (stale_shape(name, dir)) {
      std::cerr << "[matquant] " << dir << " holds an older, pretrained " << name << "; making it again\n";
      fs::remove_all(dir);
    }
  }
  if (fs::exists(dir / "config.json")) {
    // Built before models carried their tokenizer_config.json: say how they were trained (BOS), or
    // the tokenizer would read the directory as transformers does a bare one (model/tokenizer.h).
    if (!fs::exists(dir / "tokenizer_config.json")) {
      model::write_tokenizer_config(dir.string(), is_gemma_family(model::builtin_config(name)));
    }
    return dir.string();
  }
  fs::create_directories(dir.parent_path());
  FileLock lock(dir.string() + ".lock");
  if (!fs::exists(dir / "config.json")) {
    BuiltinPretraining p = pretraining;
    if (name == "small-llama") {  // sized for a GPU: a few minutes of pretraining there
      p.documents = 60000;
      p.vocab_size = 2048;
      p.steps = 2000;
      p.batch_size = 32;
      p.seq_len = 256;
      p.learning_rate = 1e-3;
    }
    build_builtin_model(name, dir, p, device);
  }
  return dir.string();
}

std::vector<std::string> resolve_documents(const std::string& source, const std::string& split,
                                           int64_t max_documents) {
  if (source == "synthetic") {
    const int64_t count = max_documents > 0 ? max_documents : (split == "train" ? 6000 : 400);
    return data::synthetic_documents(count, split == "train" ? kTrainSeed : kValidationSeed);
  }
  data::DocumentReadOptions options;
  options.max_documents = max_documents;
  return data::read_documents(source, options);
}

}  // namespace matquant::jobs
