#include "sweep/run_keys.h"

#include "quant/precision_label.h"

#include <openssl/evp.h>

#include <array>
#include <cstdio>

namespace matquant::sweep {

using nlohmann::json;

std::string canonical_text(const json& value) {
  // nlohmann's objects are ordered maps and its number output is the shortest round-trip form;
  // run_spec.cpp already turned integral doubles into integers.
  return value.dump(-1, ' ', false, json::error_handler_t::strict);
}

std::string sha256_hex(const std::string& text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
  std::string hex;
  char buffer[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(buffer, sizeof(buffer), "%02x", digest[i]);
    hex += buffer;
  }
  return hex;
}

// Where and how the same computation runs (on how many GPUs; moments offloaded to the host: the
// same update) is not
// part of what was computed; erased so that results keep their keys.
// Fields added after results existed are left out of keys at their defaults (the results they
// keyed computed exactly that).
void erase_later_defaults(json& keyed) {
  if (keyed.value("format", "int") == "int") keyed.erase("format");
  if (!keyed.contains("eval") || !keyed["eval"].is_object()) return;
  json& eval = keyed["eval"];
  const std::string activations = eval.value("activations", "none");
  if (activations == "none") eval.erase("activations");
  if (eval.value("perplexity_protocol", "chunks") != "concatenated") {
    eval.erase("perplexity_separator");
    eval.erase("perplexity_documents");
  }
  // Only static (INT) activation ranges are calibrated.
  if (activations == "none" || activations.rfind("mx", 0) == 0 || activations.rfind("MX", 0) == 0) {
    eval.erase("activation_samples");
  }
}

void erase_placement(json& keyed) {
  erase_later_defaults(keyed);
  keyed.erase("resources");
  if (keyed.contains("train") && keyed["train"].is_object()) {
    keyed["train"].erase("offload_optimizer_state");
    keyed["train"].erase("cuda_graph");  // the same kernels, launched from a graph
    keyed["train"].erase("activation_checkpointing_policy");  // the same gradients, less recomputed
  }
  // GPTQ's settings change nothing another base computes; erased so earlier runs keep their keys.
  if (keyed.value("base", "qat") != "gptq") keyed.erase("gptq");
  if (keyed.value("smoothing", "none") == "none") keyed.erase("smoothing");
}

std::string run_key(const json& spec) {
  json keyed = spec;
  keyed.erase("name");
  erase_placement(keyed);
  return sha256_hex(canonical_text(keyed));
}

std::string train_job_key(const json& spec) {
  json keyed = spec;
  keyed.erase("name");
  keyed.erase("eval");
  erase_placement(keyed);
  // "Sliced int8" trains nothing of its own: it is the int8 baseline's checkpoint.
  if (keyed.value("variant", "") == "sliced") keyed["variant"] = "baseline";
  return sha256_hex(canonical_text(keyed));
}

std::string eval_job_key(const json& spec, const std::string& precision) {
  json eval = spec.value("eval", json::object());
  eval.erase("precisions");
  eval.erase("save_requests");  // where a copy of the requests goes does not change the result
  json keyed = {{"precision", precision}, {"eval", eval}};
  {
    json wrapped = {{"eval", eval}};
    erase_later_defaults(wrapped);
    // The unquantized rows are the A16/W16 reference: activations are not quantized there.
    if (quant::is_unquantized(precision)) {
      wrapped["eval"].erase("activations");
      wrapped["eval"].erase("activation_samples");
    }
    keyed["eval"] = wrapped["eval"];
  }
  // "pyramid@3" names a plan through the count rule of lib/quant/mix_n_match: its version keeps a
  // database from reusing evaluations of plans made under an older rule (rule 2: three widths).
  if (precision.find('@') != std::string::npos) keyed["mix_n_match_rule"] = 2;
  if (!quant::needs_training(precision)) {
    // The dtype that runs (bf16 ran in float32 on CPU before; such results must not be reused).
    keyed["dtype"] = precision == "bf16" ? "bfloat16" : "float32";
    keyed["model"] = spec.value("model", "");
    keyed["data"] = {{"validation", spec["data"].value("validation", "")}};
    keyed["seq_len"] = spec["train"].value("seq_len", 0);  // perplexity windows when eval.perplexity_seq_len is 0
    if (quant::is_post_training(precision)) {  // which projections are rounded, in which groups
      keyed["scope"] = spec.value("scope", "ffn");
      keyed["group_size"] = spec.value("group_size", 0);
      // Static activation ranges are calibrated on data.train.
      if (keyed["eval"].contains("activation_samples")) keyed["data"]["train"] = spec["data"].value("train", "");
    }
  } else {
    keyed["train_job"] = train_job_key(spec);
  }
  return sha256_hex(canonical_text(keyed));
}

}  // namespace matquant::sweep
