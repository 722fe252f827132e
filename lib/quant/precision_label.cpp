#include "quant/precision_label.h"

#include "quant/weight_format.h"

#include <fmt/format.h>

namespace matquant::quant {

std::string precision_label(const std::string& precision, bool extra_precision) {
  if (is_unquantized(precision)) return precision;
  if (is_post_training(precision)) return kPostTrainingPrefix + parse_weight_format(precision.substr(4)).name();
  const auto at = precision.find('@');
  if (at != std::string::npos) {
    return fmt::format("mnm:{}@{:.2f}", precision.substr(0, at), std::stod(precision.substr(at + 1)));
  }
  if (precision.find(',') != std::string::npos) return "plan:" + precision;
  return (extra_precision ? "ep-int" : "int") + precision;
}

}  // namespace matquant::quant
