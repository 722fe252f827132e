#include "model/safetensors.h"

#include "common/error.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <boost/filesystem.hpp>
#include <fstream>

namespace matquant::model {

namespace fs = boost::filesystem;

class MappedFile {
 public:
  explicit MappedFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY);
    if (fd_ < 0) throw Error(ErrorCode::kNotFound, "cannot open safetensors file " + path);
    struct stat st {};
    ::fstat(fd_, &st);
    size_ = static_cast<int64_t>(st.st_size);
    if (size_ > 0) {
      data_ = ::mmap(nullptr, size_t(size_), PROT_READ, MAP_PRIVATE, fd_, 0);
      if (data_ == MAP_FAILED) throw Error(ErrorCode::kIo, "cannot map " + path);
    }
  }
  ~MappedFile() {
    if (data_ != nullptr && data_ != MAP_FAILED) ::munmap(data_, size_t(size_));
    if (fd_ >= 0) ::close(fd_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* bytes() const { return static_cast<const uint8_t*>(data_); }
  int64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  void* data_ = nullptr;
  int64_t size_ = 0;
};

namespace {

struct DtypeEntry {
  const char* name;
  at::ScalarType type;
  int64_t bytes;
};
constexpr DtypeEntry kDtypes[] = {
    {"F32", at::kFloat, 4}, {"BF16", at::kBFloat16, 2}, {"F16", at::kHalf, 2}, {"F64", at::kDouble, 8},
    {"I64", at::kLong, 8},  {"I32", at::kInt, 4},       {"I16", at::kShort, 2}, {"I8", at::kChar, 1},
    {"U8", at::kByte, 1},   {"BOOL", at::kBool, 1}};

const DtypeEntry* find_dtype(const std::string& name) {
  for (const auto& d : kDtypes) if (name == d.name) return &d;
  return nullptr;
}

const DtypeEntry& entry_for(at::ScalarType type) {
  for (const auto& d : kDtypes) if (type == d.type) return d;
  throw Error(ErrorCode::kInvalidInput, fmt::format("dtype {} cannot be stored in safetensors", c10::toString(type)));
}

std::string shape_text(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// Header offset of the data section and the parsed header of one file.
std::pair<int64_t, nlohmann::json> read_header(const MappedFile& file) {
  if (file.size() < 8) throw Error(ErrorCode::kInvalidInput, file.path() + ": truncated (no header length)");
  uint64_t length = 0;
  std::memcpy(&length, file.bytes(), 8);  // little-endian hosts only (x86-64, arm64)
  if (length > uint64_t(file.size() - 8) || length > (uint64_t{100} << 20)) {
    throw Error(ErrorCode::kInvalidInput,
                fmt::format("{}: header length {} exceeds the file ({} bytes): truncated or not safetensors",
                            file.path(), length, file.size()));
  }
  try {
    return {int64_t(8 + length), nlohmann::json::parse(file.bytes() + 8, file.bytes() + 8 + length)};
  } catch (const nlohmann::json::exception&) {
    throw Error(ErrorCode::kInvalidInput, file.path() + ": header is not valid JSON");
  }
}

}  // namespace

SafetensorsReader SafetensorsReader::open(const std::string& path) {
  SafetensorsReader reader;
  reader.source_ = path;
  std::vector<std::string> files;
  std::map<std::string, std::string> weight_map;  // from an index, to check against shards
  if (fs::is_directory(path)) {
    const fs::path index = fs::path(path) / "model.safetensors.index.json";
    const fs::path single = fs::path(path) / "model.safetensors";
    if (fs::exists(index)) {
      std::ifstream in(index);
      nlohmann::json json;
      try {
        json = nlohmann::json::parse(in);
      } catch (const nlohmann::json::exception&) {
        throw Error(ErrorCode::kInvalidInput, index.string() + ": not valid JSON");
      }
      if (!json.contains("weight_map") || !json["weight_map"].is_object()) {
        throw Error(ErrorCode::kInvalidInput, index.string() + ": weight_map: missing or not an object");
      }
      std::set<std::string> shards;
      for (const auto& [name, shard] : json["weight_map"].items()) {
        const std::string file = (fs::path(path) / shard.get<std::string>()).string();
        weight_map[name] = file;
        shards.insert(file);
      }
      files.assign(shards.begin(), shards.end());
    } else if (fs::exists(single)) {
      files.push_back(single.string());
    } else {
      throw Error(ErrorCode::kNotFound, "no model.safetensors or model.safetensors.index.json in " + path);
    }
  } else {
    files.push_back(path);
  }
  for (const auto& file_path : files) {
    auto file = std::make_shared<MappedFile>(file_path);
    const auto [data_start, header] = read_header(*file);
    const int64_t data_size = file->size() - data_start;
    for (const auto& [name, value] : header.items()) {
      if (name == "__metadata__") {
        if (reader.metadata_.empty() && value.is_object()) {
          for (const auto& [k, v] : value.items()) reader.metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
        }
        continue;
      }
      TensorInfo info;
      info.name = name;
      info.file = file_path;
      try {
        info.dtype = value.at("dtype").get<std::string>();
        info.shape = value.at("shape").get<std::vector<int64_t>>();
        const auto offsets = value.at("data_offsets").get<std::vector<int64_t>>();
        if (offsets.size() != 2) throw std::runtime_error("data_offsets");
        info.begin = offsets[0];
        info.end = offsets[1];
      } catch (const std::exception&) {
        throw Error(ErrorCode::kInvalidInput, fmt::format("{}: tensor '{}': malformed header entry", file_path, name));
      }
      const DtypeEntry* dtype = find_dtype(info.dtype);
      if (dtype == nullptr) {
        throw Error(ErrorCode::kInvalidInput, fmt::format("{}: tensor '{}': unsupported dtype {}", file_path, name, info.dtype));
      }
      int64_t elements = 1;
      for (int64_t d : info.shape) elements *= d;
      if (info.end - info.begin != elements * dtype->bytes || info.begin < 0) {
        throw Error(ErrorCode::kInvalidInput,
                    fmt::format("{}: tensor '{}': {} bytes for shape {} of {}", file_path, name,
                                info.end - info.begin, shape_text(info.shape), info.dtype));
      }
      if (info.end > data_size) {
        throw Error(ErrorCode::kInvalidInput,
                    fmt::format("{}: tensor '{}' is truncated: needs bytes up to {} but the data section has {}",
                                file_path, name, info.end, data_size));
      }
      info.begin += data_start;
      info.end += data_start;
      reader.tensors_[name] = info;
    }
    reader.files_[file_path] = file;
  }
  for (const auto& [name, file] : weight_map) {
    const auto it = reader.tensors_.find(name);
    if (it == reader.tensors_.end() || it->second.file != file) {
      throw Error(ErrorCode::kInvalidInput,
                  fmt::format("{}: the index lists tensor '{}' in {}, which does not hold it", path, name, file));
    }
  }
  return reader;
}

bool SafetensorsReader::contains(const std::string& name) const { return tensors_.count(name) != 0; }

std::vector<std::string> SafetensorsReader::names() const {
  std::vector<std::string> out;
  for (const auto& [name, info] : tensors_) out.push_back(name);
  return out;
}

const TensorInfo& SafetensorsReader::info(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    throw Error(ErrorCode::kInvalidInput, fmt::format("{}: no tensor '{}'", source_, name));
  }
  return it->second;
}

at::Tensor SafetensorsReader::load(const std::string& name, std::optional<at::ScalarType> dtype, at::Device device,
                                   std::optional<std::vector<int64_t>> expected_shape) const {
  const TensorInfo& i = info(name);
  if (expected_shape && *expected_shape != i.shape) {
    throw Error(ErrorCode::kInvalidInput, fmt::format("{}: tensor '{}' has shape {}, expected {}", i.file, name,
                                                      shape_text(i.shape), shape_text(*expected_shape)));
  }
  const DtypeEntry* entry = find_dtype(i.dtype);
  const auto& file = files_.at(i.file);
  // from_blob views the mapping; the conversion below makes the one copy.
  at::Tensor view = at::from_blob(const_cast<uint8_t*>(file->bytes() + i.begin), i.shape,
                                  at::TensorOptions().dtype(entry->type));
  const at::ScalarType target = dtype.value_or(entry->type);
  if (target == entry->type && device.is_cpu()) return view.clone();
  return view.to(device, target, /*non_blocking=*/false, /*copy=*/true);
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, at::Tensor>> sorted = tensors;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  int64_t offset = 0;
  std::vector<at::Tensor> cpu;
  for (const auto& [name, tensor] : sorted) {
    const at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const int64_t bytes = t.numel() * entry_for(t.scalar_type()).bytes;
    header[name] = {{"dtype", entry_for(t.scalar_type()).name},
                    {"shape", std::vector<int64_t>(t.sizes().begin(), t.sizes().end())},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(t);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // align the data section to 8 bytes
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot write " + tmp);
  auto write_all = [&](const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd, p, size);
      if (n <= 0) {
        ::close(fd);
        throw Error(ErrorCode::kIo, "write failed: " + tmp);
      }
      p += n;
      size -= size_t(n);
    }
  };
  const uint64_t length = text.size();
  write_all(&length, 8);
  write_all(text.data(), text.size());
  for (const auto& t : cpu) write_all(t.data_ptr(), size_t(t.numel()) * size_t(entry_for(t.scalar_type()).bytes));
  if (::fsync(fd) != 0 || ::close(fd) != 0) throw Error(ErrorCode::kIo, "write failed: " + tmp);
  boost::system::error_code renamed;
  fs::rename(tmp, path, renamed);
  if (renamed) {
    const std::string reason = fs::is_directory(path) ? "it is a directory" : renamed.message();
    fs::remove(tmp, renamed);  // no half-written file left beside the target
    throw Error(ErrorCode::kIo, "cannot write " + path + ": " + reason);
  }
}

}  // namespace matquant::model
