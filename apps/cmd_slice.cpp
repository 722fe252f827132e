// `matquant slice --checkpoint CKPT --precision P --out DIR [--format dense|compressed-tensors]`:
// writes the r-bit (or Mix'n'Match) model of a nested checkpoint as a Hugging Face directory, with
// dequantized weights (dense) or the quantized layers in compressed-tensors' naive-quantized layout
// (int8 values, fp32 scales and zero points), which transformers loads through that package.
#include "command_registry.h"

#include "common/error.h"

#include "model/pretrained.h"
#include "quant/mix_n_match.h"
#include "train/nested_checkpoint.h"

#include <boost/filesystem.hpp>
#include <fmt/format.h>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

int run_slice(const Args& args) {
  std::string checkpoint, precision, out, dtype = "fp32", format = "dense";
  double max_shard_gb = 5.0;
  po::options_description options("options");
  options.add_options()
      ("checkpoint", po::value(&checkpoint)->required(), "nested checkpoint (.safetensors)")
      ("precision", po::value(&precision)->required(), "r (e.g. 4), a per-layer list, or strategy@bits")
      ("out", po::value(&out)->required(), "output Hugging Face directory")
      ("dtype", po::value(&dtype)->default_value(dtype), "weights written as fp32 or bf16 (not the quantized ones of compressed-tensors)")
      ("format", po::value(&format)->default_value(format),
       "dense (dequantized weights) or compressed-tensors (quantized layers as int8 values + fp32 scales and zero points)")
      ("max-shard-gb", po::value(&max_shard_gb)->default_value(max_shard_gb),
       "above this many GB (1e9 bytes) of weights, model-0000K-of-0000N.safetensors shards and an index");
  po::variables_map vm;
  if (!parse_command_line("slice", "--checkpoint CKPT --precision P --out DIR [--format dense|compressed-tensors]", options, {}, args, vm)) return 0;
  if (dtype != "fp32" && dtype != "bf16") throw_usage("--dtype must be fp32 or bf16");
  if (format != "dense" && format != "compressed-tensors") throw_usage("--format must be dense or compressed-tensors");
  if (!(max_shard_gb > 0)) throw_usage("--max-shard-gb must be positive");
  auto loaded = train::load_nested_checkpoint(checkpoint, at::kFloat, at::kCPU);
  loaded.model->set_precision(quant::plan_from_text(precision, int(loaded.model->layers.size())));
  model::SaveOptions save;
  save.max_shard_bytes = int64_t(max_shard_gb * 1e9);
  if (dtype == "bf16") save.dtype = at::kBFloat16;
  save.compressed_tensors = format == "compressed-tensors";
  model::save_pretrained(loaded.model, out, save);
  // Carry the tokenizer along when the checkpoint says where its base model lives.
  const std::string base = loaded.metadata.value("model_dir", "");
  for (const char* file : {"tokenizer.model", "tokenizer_config.json"}) {
    const boost::filesystem::path source = boost::filesystem::path(base) / file;
    if (!base.empty() && boost::filesystem::exists(source)) {
      boost::filesystem::copy_file(source, boost::filesystem::path(out) / file,
                                   boost::filesystem::copy_options::overwrite_existing);
    }
  }
  fmt::print("wrote {} (precision {}, {})\n", out, precision, format);
  return 0;
}

const RegisterCommand kRegister{
    {"slice", "write one precision of a nested checkpoint as a Hugging Face directory", &run_slice}};

}  // namespace
}  // namespace matquant::apps
