#include "train/code_histogram.h"

#include "common/error.h"
#include "model/safetensors.h"
#include "quant/slicing.h"

#include <boost/filesystem.hpp>
#include <nlohmann/json.hpp>

namespace matquant::train {

std::vector<CodeHistogram> checkpoint_code_histograms(const std::string& checkpoint_path, const std::vector<int>& bits) {
  if (!boost::filesystem::exists(checkpoint_path)) throw Error(ErrorCode::kNotFound, "no checkpoint " + checkpoint_path);
  const auto reader = model::SafetensorsReader::open(checkpoint_path);
  const auto meta = reader.metadata().find("matquant");
  if (meta == reader.metadata().end()) {
    throw Error(ErrorCode::kInvalidInput, checkpoint_path + ": not a matquant nested checkpoint (no 'matquant' metadata)");
  }
  const auto metadata = nlohmann::json::parse(meta->second, nullptr, false);
  if (metadata.is_discarded() || !metadata.contains("quantizer") || !metadata.contains("quantized")) {
    throw Error(ErrorCode::kInvalidInput, checkpoint_path + ": 'matquant' metadata lacks quantizer/quantized");
  }
  const auto& quantizer = metadata.at("quantizer");
  const int source_bits = quantizer.value("bits", 0);
  const bool extra = quantizer.value("slice_mode", "clamped") != "clamped";
  const auto names = metadata.at("quantized");
  if (names.empty()) throw Error(ErrorCode::kInvalidInput, checkpoint_path + ": no quantized projections");

  std::vector<CodeHistogram> histograms;
  for (const int r : bits) {
    if (r < 1 || r > source_bits) {
      throw Error(ErrorCode::kInvalidInput, checkpoint_path + ": holds int" + std::to_string(source_bits) +
                                                " codes; int" + std::to_string(r) + " cannot be sliced from them");
    }
    CodeHistogram h;
    h.source_bits = source_bits;
    h.bits = r;
    h.extra_precision = extra;
    const int64_t values = (int64_t(1) << r) + (extra ? 1 : 0);
    at::Tensor total = at::zeros({values}, at::kLong);
    const quant::SliceMode mode = extra ? quant::SliceMode::kExtraPrecision : quant::SliceMode::kClamped;
    for (const auto& name : names) {
      const at::Tensor codes = reader.load(name.get<std::string>() + ".codes", at::kFloat);
      // slice_codes returns c-bit units; dividing by 2^(c-r) gives the r-bit code.
      const at::Tensor sliced = quant::slice_codes(codes, source_bits, r, mode).div(double(int64_t(1) << (source_bits - r)));
      total += at::bincount(sliced.round().to(at::kLong).flatten(), {}, values).narrow(0, 0, values);
    }
    h.counts.assign(total.data_ptr<int64_t>(), total.data_ptr<int64_t>() + values);
    histograms.push_back(std::move(h));
  }
  return histograms;
}

}  // namespace matquant::train
