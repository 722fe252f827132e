#include "jobs/weight_metrics.h"

#include "quant/extra_bucket_accounting.h"
#include "train/pretraining.h"

namespace matquant::jobs {

std::vector<MetricRow> weight_metrics(model::DecoderModel& net, const std::string& label) {
  double quantized = 0.0, bits = 0.0, flag_bits = 0.0, in_extra_bucket = 0.0;
  bool extra_precision = false;
  for (auto& [name, layer, linear] : net->quantized_linears()) {
    if (!linear->precision() || !linear->frozen()) continue;  // not served from codes
    const int r = *linear->precision();
    if (const auto& mx = linear->mx_codes()) {  // r-bit elements plus the 8-bit exponent per block
      const double n = double(mx->codes.numel());
      quantized += n;
      bits += (r + 8.0 / double(mx->format.block_size)) * n;
      flag_bits += (r + 8.0 / double(mx->format.block_size)) * n;
      continue;
    }
    const auto& codes = *linear->codes();
    const double n = double(codes.codes.numel());
    quantized += n;
    if (linear->quantizer()->slice_mode != quant::SliceMode::kExtraPrecision) {
      bits += r * n;
      flag_bits += r * n;
      continue;
    }
    extra_precision = true;
    const auto stats = quant::extra_bucket_stats(codes.codes, codes.bits, r);
    bits += quant::effective_bits(stats) * n;
    flag_bits += quant::effective_bits(stats, quant::ExtraBitsAccounting::kFlag) * n;
    in_extra_bucket += double(stats.in_extra_bucket);
  }
  std::vector<MetricRow> rows = {{label, "weights", "parameters", double(train::parameter_count(net))},
                                 {label, "weights", "quantized_parameters", quantized}};
  if (quantized > 0) rows.push_back({label, "weights", "effective_bits", bits / quantized});
  if (extra_precision) {
    rows.push_back({label, "weights", "extra_fraction", in_extra_bucket / quantized});
    rows.push_back({label, "weights", "effective_bits_" + quant::accounting_name(quant::ExtraBitsAccounting::kFlag),
                    flag_bits / quantized});
  }
  return rows;
}

}  // namespace matquant::jobs
