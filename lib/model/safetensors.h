#pragma once
// Hugging Face safetensors: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the bytes.
// Files are memory-mapped, so a tensor is copied once, straight into its destination dtype/device.
#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace matquant::model {

struct TensorInfo {
  std::string name;
  std::string dtype;  // "F32", "BF16", "F16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"
  std::vector<int64_t> shape;
  std::string file;
  int64_t begin = 0;  // byte offsets within the file's data section
  int64_t end = 0;
};

class MappedFile;

class SafetensorsReader {
 public:
  // A directory (model.safetensors or model.safetensors.index.json shards) or one .safetensors file.
  static SafetensorsReader open(const std::string& path);

  bool contains(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  const TensorInfo& info(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Reads one tensor; checks its shape when expected_shape is given; converts and moves it.
  at::Tensor load(const std::string& name, std::optional<at::ScalarType> dtype = std::nullopt,
                  at::Device device = at::kCPU,
                  std::optional<std::vector<int64_t>> expected_shape = std::nullopt) const;

 private:
  std::string source_;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, std::shared_ptr<MappedFile>> files_;
};

// Writes tensors in name order with __metadata__; via PATH.tmp, fsync and rename.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace matquant::model
