#include "jobs/activation_calibration.h"

#include "common/error.h"
#include "quant/activation_quant.h"

#include <c10/core/GradMode.h>

#include <memory>
#include <vector>

namespace matquant::jobs {

int64_t quantize_activations(model::DecoderModel& net, const quant::WeightFormat& format,
                             const at::Tensor& calibration, int64_t batch_size) {
  auto linears = net->quantized_linears();
  if (linears.empty()) throw_invalid("activation quantization needs quantized projections (a scope)");
  for (auto& [name, layer, linear] : linears) linear->set_activation_quantizer(std::nullopt);
  if (format.kind == quant::WeightFormat::Kind::kMxInt) {
    for (auto& [name, layer, linear] : linears) linear->set_activation_quantizer(quant::ActivationQuantizer::dynamic(format));
    return int64_t(linears.size());
  }
  if (calibration.dim() != 2 || calibration.size(0) == 0 || calibration.size(1) < 2) {
    throw_invalid("static activation quantization needs calibration sequences of at least 2 tokens");
  }
  c10::NoGradGuard no_grad;
  net->eval();
  std::vector<std::shared_ptr<quant::ActivationRangeObserver>> observers;
  for (auto& [name, layer, linear] : linears) {
    auto observer = std::make_shared<quant::ActivationRangeObserver>();
    observers.push_back(observer);
    linear->set_input_observer([observer](const at::Tensor& x) { observer->add(x); });
  }
  const at::Device device = net->embed_tokens.device();
  const int64_t step = std::max<int64_t>(1, batch_size);
  for (int64_t first = 0; first < calibration.size(0); first += step) {
    const at::Tensor batch = calibration.slice(0, first, std::min(calibration.size(0), first + step)).to(device);
    net->token_nll(batch.slice(1, 0, -1), batch.slice(1, 1));  // only the projections' inputs are kept
  }
  for (size_t i = 0; i < linears.size(); ++i) {
    auto& linear = std::get<2>(linears[i]);
    linear->set_input_observer({});
    linear->set_activation_quantizer(
        quant::ActivationQuantizer::from_range(format, observers[i]->min(), observers[i]->max()));
  }
  return int64_t(linears.size());
}

}  // namespace matquant::jobs
