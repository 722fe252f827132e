// `matquant slice --checkpoint CKPT --precision P --out DIR`: writes the r-bit (or Mix'n'Match)
// model of a nested checkpoint as an ordinary Hugging Face directory (dequantized weights), so
// transformers and other tools can load it.
#include "command_registry.h"

#include "model/pretrained.h"
#include "quant/mix_n_match.h"
#include "train/nested_checkpoint.h"

#include <boost/filesystem.hpp>
#include <fmt/format.h>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

int run_slice(const Args& args) {
  std::string checkpoint, precision, out;
  po::options_description options("options");
  options.add_options()
      ("checkpoint", po::value(&checkpoint)->required(), "nested checkpoint (.safetensors)")
      ("precision", po::value(&precision)->required(), "r (e.g. 4), a per-layer list, or strategy@bits")
      ("out", po::value(&out)->required(), "output Hugging Face directory");
  po::variables_map vm;
  if (!parse_command_line("slice", "--checkpoint CKPT --precision P --out DIR", options, {}, args, vm)) return 0;
  auto loaded = train::load_nested_checkpoint(checkpoint, at::kFloat, at::kCPU);
  loaded.model->set_precision(quant::plan_from_text(precision, int(loaded.model->layers.size())));
  model::save_pretrained(loaded.model, out);
  // Carry the tokenizer along when the checkpoint says where its base model lives.
  const std::string base = loaded.metadata.value("model_dir", "");
  const boost::filesystem::path tokenizer = boost::filesystem::path(base) / "tokenizer.model";
  if (!base.empty() && boost::filesystem::exists(tokenizer)) {
    boost::filesystem::copy_file(tokenizer, boost::filesystem::path(out) / "tokenizer.model",
                                 boost::filesystem::copy_options::overwrite_existing);
  }
  fmt::print("wrote {} (precision {})\n", out, precision);
  return 0;
}

const RegisterCommand kRegister{
    {"slice", "write one precision of a nested checkpoint as a Hugging Face directory", &run_slice}};

}  // namespace
}  // namespace matquant::apps
