#include "model/generation.h"

#include "common/error.h"
#include "kernels/fused_ops.h"
#include "model/attention.h"
#include "model/rope.h"

#include <c10/core/GradMode.h>

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

namespace matquant::model {

Generator::Generator(DecoderModel model) : model_(std::move(model)) {
  const ModelConfig& c = model_->config();
  inverse_frequencies_ = rope_inverse_frequencies(c.rope, c.head_dim, model_->embed_tokens.device());
}

void Generator::pack_bit_planes() {
  c10::NoGradGuard no_grad;
  planes_.clear();
  for (auto& [name, layer_index, linear] : model_->quantized_linears()) {
    if (linear->mx_codes()) throw_invalid("bit planes serve affine codes; " + name + " holds MXINT codes");
    if (!linear->codes()) throw_invalid("bit planes need a frozen code store; " + name + " has none");
    planes_.emplace(linear.get(), quant::bit_planes_to(quant::pack_bit_planes(*linear->codes()), linear->weight.device()));
  }
}

int64_t Generator::bit_plane_bytes() const {
  int64_t bytes = 0;
  for (const auto& [linear, p] : planes_) {
    bytes += p.planes.numel() * 4 + (p.scale.numel() + p.zero_point.numel()) * int64_t(p.scale.element_size());
  }
  return bytes;
}

void Generator::pack_slices() {
  c10::NoGradGuard no_grad;
  for (auto& [name, layer_index, linear] : model_->quantized_linears()) {
    if (!linear->precision() || !linear->quantizer()) continue;  // full precision: nothing to pack
    if (linear->mx_codes()) throw_invalid("slice packs serve affine codes; " + name + " holds MXINT codes");
    if (!linear->codes()) throw_invalid("slice packs need a frozen code store; " + name + " has none");
    if (slice_for(linear) != nullptr) continue;
    const int bits = *linear->precision();
    const quant::SliceMode mode = linear->quantizer()->slice_mode;
    slices_.emplace(std::make_tuple(static_cast<const QuantizedLinearImpl*>(linear.get()), bits, mode),
                    quant::slice_pack_to(quant::pack_slice(*linear->codes(), bits, mode), linear->weight.device()));
  }
  for (auto& layer : model_->layers) {
    join_packs({&layer->q_proj, &layer->k_proj, &layer->v_proj});
    join_packs({&layer->gate_proj, &layer->up_proj});
  }
}

void Generator::join_packs(const std::vector<QuantizedLinear*>& linears) {
  std::vector<quant::SlicePack*> member_packs;
  std::vector<const QuantizedLinearImpl*> members;
  std::vector<at::Tensor> biases;
  for (QuantizedLinear* linear : linears) {
    member_packs.push_back(slice_for(*linear));
    members.push_back(linear->get());
    if ((*linear)->bias.defined()) biases.push_back((*linear)->bias);
    if (member_packs.back() == nullptr) return;
  }
  std::vector<const quant::SlicePack*> packs(member_packs.begin(), member_packs.end());
  if (joint_packs_.count(packs) > 0 || (!biases.empty() && biases.size() != linears.size())) return;
  std::optional<quant::SlicePack> stacked = quant::stack_slice_packs(packs);
  if (!stacked) return;
  // The members' scales are their codes', the same at every precision: one joint copy serves all
  // (checked, should the codes have been frozen again since).
  const auto [scales, fresh] = joint_scales_.try_emplace(members, stacked->scale, stacked->zero_point);
  if (!fresh && (!at::equal(scales->second.first, stacked->scale) ||
                 !at::equal(scales->second.second, stacked->zero_point))) {
    scales->second = {stacked->scale, stacked->zero_point};
  }
  stacked->scale = scales->second.first;
  stacked->zero_point = scales->second.second;
  JointPack joint{*stacked, {}, biases.empty() ? at::Tensor() : at::cat(biases, 0)};
  // The members keep their own packs as views of the joint one: single calls (and the byte counts)
  // still work, and the levels are held once.
  int64_t row = 0;
  for (quant::SlicePack* p : member_packs) {
    quant::SlicePack& member = *p;
    member.words = joint.pack.words.narrow(0, row / quant::SlicePack::kRowTile, member.row_tiles());
    member.scale = joint.pack.scale.narrow(0, row, member.rows);
    member.zero_point = joint.pack.zero_point.narrow(0, row, member.rows);
    joint.rows.push_back(member.rows);
    row += member.rows;
  }
  joint_packs_.emplace(std::move(packs), std::move(joint));
}

int64_t Generator::slice_pack_bytes() const {
  int64_t bytes = 0;
  std::set<const void*> counted;  // every precision's pack of a linear shares its scales
  for (const auto& [key, p] : slices_) {
    bytes += p.level_bytes();
    for (const at::Tensor* t : {&p.scale, &p.zero_point}) {
      if (counted.insert(t->data_ptr()).second) bytes += t->numel() * int64_t(t->element_size());
    }
  }
  return bytes;
}

const quant::SlicePack* Generator::slice_for(const QuantizedLinear& linear) const {
  if (!linear->precision() || !linear->quantizer()) return nullptr;
  const auto it = slices_.find(std::make_tuple(static_cast<const QuantizedLinearImpl*>(linear.get()),
                                               *linear->precision(), linear->quantizer()->slice_mode));
  return it == slices_.end() ? nullptr : &it->second;
}

quant::SlicePack* Generator::slice_for(const QuantizedLinear& linear) {
  return const_cast<quant::SlicePack*>(std::as_const(*this).slice_for(linear));  // slices_ is ours to change
}

int64_t Generator::served_slice_pack_bytes() {
  int64_t bytes = 0;
  for (auto& [name, layer_index, linear] : model_->quantized_linears()) {
    if (const quant::SlicePack* p = slice_for(linear)) {
      bytes += p->level_bytes() + (p->scale.numel() + p->zero_point.numel()) * int64_t(p->scale.element_size());
    }
  }
  return bytes;
}

int64_t Generator::release_packed_projections() {
  std::set<const QuantizedLinearImpl*> packed;
  for (const auto& [key, p] : slices_) packed.insert(std::get<0>(key));
  int64_t bytes = 0;
  for (auto& [name, layer_index, linear] : model_->quantized_linears()) {
    if (packed.count(linear.get()) > 0 && !linear->released()) bytes += linear->release_for_packed_serving();
  }
  return bytes;
}

at::Tensor Generator::project(QuantizedLinear& linear, const at::Tensor& x) {
  if (const quant::SlicePack* pack = slice_for(linear)) {
    ++slice_pack_calls_;
    return quant::slice_pack_linear(*pack, x, linear->bias);
  }
  if (linear->released()) {
    throw Error(ErrorCode::kInternal, "a projection released for packed serving has no pack at this precision");
  }
  if (!linear->precision() || !linear->quantizer()) return linear(x);
  const auto it = planes_.find(linear.get());
  if (it == planes_.end()) return linear(x);
  return quant::bit_plane_linear(it->second, x, *linear->precision(), linear->quantizer()->slice_mode, linear->bias);
}

Generator::JointOutputs Generator::project_jointly(const std::vector<QuantizedLinear*>& linears, const at::Tensor& x) {
  JointOutputs out;
  std::vector<const quant::SlicePack*> packs;
  for (QuantizedLinear* linear : linears) packs.push_back(slice_for(*linear));
  const auto it = joint_packs_.find(packs);
  if (it == joint_packs_.end()) {
    for (QuantizedLinear* linear : linears) out.parts.push_back(project(*linear, x));
    return out;
  }
  slice_pack_calls_ += int64_t(linears.size());
  out.joint = quant::slice_pack_linear(it->second.pack, x, it->second.bias);
  int64_t column = 0;
  for (int64_t rows : it->second.rows) {
    out.parts.push_back(out.joint.narrow(-1, column, rows));
    column += rows;
  }
  return out;
}

std::pair<at::Tensor, at::Tensor> Generator::rotated(const Projected& projected, const RopeTables& rope) {
  if (projected.qk.defined()) {
    const at::Tensor both = apply_rope(projected.qk, rope);
    const int64_t heads = projected.q.size(1);
    return {both.narrow(1, 0, heads), both.narrow(1, heads, projected.k.size(1))};
  }
  return {apply_rope(projected.q, rope), apply_rope(projected.k, rope)};
}

// DecoderLayerImpl::attention over the stored keys and values.
at::Tensor Generator::attention(DecoderLayerImpl& layer, const at::Tensor& x, const StoreAndAttend& store_and_attend,
                                const RopeTables& rope, const at::Tensor& mask) {
  const ModelConfig& c = *layer.config;
  const int64_t b = x.size(0), t = x.size(1), heads = c.num_attention_heads, kv_heads = c.num_key_value_heads;
  const int64_t d = c.head_dim;
  // The three projections of x run as one joint pack, or back to back, so chained slice-pack
  // launches can overlap one projection's start with the previous one's end.
  const JointOutputs qkv = project_jointly({&layer.q_proj, &layer.k_proj, &layer.v_proj}, x);
  Projected projected;
  const bool heads_side_by_side = qkv.joint.defined() && qkv.parts[0].size(-1) == heads * d &&
                                  qkv.parts[1].size(-1) == kv_heads * d && qkv.parts[2].size(-1) == kv_heads * d;
  if (heads_side_by_side) {
    const at::Tensor all_heads = qkv.joint.view({b, t, heads + 2 * kv_heads, d}).transpose(1, 2);
    projected.q = all_heads.narrow(1, 0, heads);
    projected.k = all_heads.narrow(1, heads, kv_heads);
    projected.v = all_heads.narrow(1, heads + kv_heads, kv_heads);
    projected.qk = all_heads.narrow(1, 0, heads + kv_heads);
  } else {
    projected.q = qkv.parts[0].view({b, t, heads, d}).transpose(1, 2);
    projected.k = qkv.parts[1].view({b, t, kv_heads, d}).transpose(1, 2);
    projected.v = qkv.parts[2].view({b, t, kv_heads, d}).transpose(1, 2);
  }
  const at::Tensor out = store_and_attend(layer.index, projected, rope, mask);
  return project(layer.o_proj, out.transpose(1, 2).reshape({b, t, heads * d}));
}

at::Tensor Generator::run_layers(at::Tensor h, const StoreAndAttend& store_and_attend, const at::Tensor& positions,
                                 const at::Tensor& causal, const at::Tensor& sliding) {
  const ModelConfig& c = model_->config();
  const RopeTables rope = rope_tables(inverse_frequencies_, positions, h.scalar_type());
  // Each residual add runs with the norms around it (DecoderLayerImpl::residual_step: one kernel on
  // CUDA for enough rows), the FFN's with the next layer's input norm. The final norm runs on the
  // last position only, the one whose logits are returned.
  at::Tensor x = model_->layers.front()->norm(h, model_->layers.front()->input_layernorm);
  for (size_t i = 0; i < model_->layers.size(); ++i) {
    DecoderLayerImpl& l = *model_->layers[i];
    const at::Tensor& mask = c.layer_uses_sliding_window.at(size_t(l.index)) ? sliding : causal;
    const bool last_layer = i + 1 == model_->layers.size();
    const at::Tensor next_norm = last_layer ? at::Tensor() : model_->layers[i + 1]->input_layernorm;
    const at::Tensor attended = attention(l, x, store_and_attend, rope, mask);
    const kernels::ResidualNormed after_attention =
        l.residual_step(h, attended, c.sandwich_norms ? l.post_attention_layernorm : at::Tensor(),
                        c.sandwich_norms ? l.pre_feedforward_layernorm : l.post_attention_layernorm);
    const JointOutputs gate_up = project_jointly({&l.gate_proj, &l.up_proj}, after_attention.normed);
    const at::Tensor mlp = project(l.down_proj, gated_activation(gate_up.parts[0], gate_up.parts[1], c));
    const kernels::ResidualNormed after_mlp = l.residual_step(
        after_attention.hidden, mlp, c.sandwich_norms ? l.post_feedforward_layernorm : at::Tensor(), next_norm);
    h = after_mlp.hidden;
    x = after_mlp.normed;
  }
  const at::Tensor last = model_->layers.front()->norm(h.select(1, h.size(1) - 1), model_->final_norm);
  return model_->logits_from_hidden(last).to(at::kFloat);
}

at::Tensor Generator::step(const at::Tensor& tokens, KvCache& cache) {
  c10::NoGradGuard no_grad;
  if (tokens.dim() != 2 || tokens.size(1) < 1) throw_invalid("generation steps take tokens [batch, length >= 1]");
  const ModelConfig& c = model_->config();
  const at::Device device = model_->embed_tokens.device();
  if (cache.keys.empty()) {
    cache.keys.resize(model_->layers.size());
    cache.values.resize(model_->layers.size());
  }
  const int64_t b = tokens.size(0), t = tokens.size(1), start = cache.length, total = start + t;
  const at::Tensor h = model_->embed(tokens.to(device));
  const auto long_options = at::TensorOptions().dtype(at::kLong).device(device);
  const at::Tensor indices = at::arange(start, total, long_options).view({1, t});
  // Query index i sees key indices <= i (and within the sliding window on sliding layers).
  const at::Tensor query = indices.view({t, 1}), key = at::arange(total, long_options).view({1, total});
  at::Tensor causal = key.le(query).view({1, 1, t, total});
  at::Tensor sliding =
      c.sliding_window ? causal.logical_and((query - key).lt(*c.sliding_window).view({1, 1, t, total})) : causal;
  at::Tensor positions = indices;
  if (cache.pads.defined()) {
    if (cache.pads.size(0) != b) throw_invalid("a padded cache's steps keep its batch size");
    // Positions count from each row's first real token; pad keys are masked, and a pad query sees
    // itself only, so its softmax never runs over nothing (as DecoderModelImpl::attention_mask_for).
    positions = (indices - cache.pads.view({b, 1})).clamp_min(0);
    if (cache.key_valid.size(1) < total) {
      cache.key_valid = at::cat({cache.key_valid, at::ones({b, total - cache.key_valid.size(1)},
                                                           cache.key_valid.options())}, 1);
    }
    const at::Tensor valid = cache.key_valid.view({b, 1, 1, total});
    const at::Tensor self = key.eq(query).view({1, 1, t, total});
    causal = causal.logical_and(valid).logical_or(self);
    sliding = sliding.logical_and(valid).logical_or(self);
  }
  // The new keys and values go after the cached ones.
  const StoreAndAttend store_and_attend = [&](int64_t layer, const Projected& projected, const RopeTables& rope,
                                              const at::Tensor& mask) {
    const auto [q, k] = rotated(projected, rope);
    at::Tensor& cached_k = cache.keys[size_t(layer)];
    at::Tensor& cached_v = cache.values[size_t(layer)];
    // A first step's k and v may be views of a joint output (q's heads and more): copied, so the
    // cache holds only its own heads.
    cached_k = cached_k.defined() ? at::cat({cached_k, k}, 2) : k.clone(at::MemoryFormat::Contiguous);
    cached_v = cached_v.defined() ? at::cat({cached_v, projected.v}, 2) : projected.v.clone(at::MemoryFormat::Contiguous);
    return attend(q, cached_k, cached_v, mask, c);
  };
  const at::Tensor logits = run_layers(h, store_and_attend, positions, causal, sliding);
  cache.length = total;
  return logits;
}

at::Tensor Generator::prefill(const std::vector<std::vector<int64_t>>& prompts, KvCache& cache) {
  if (prompts.empty()) throw_invalid("prefill needs at least one prompt");
  if (cache.length != 0) throw_invalid("prefill starts from an empty cache");
  size_t longest = 0;
  for (const auto& prompt : prompts) {
    if (prompt.empty()) throw_invalid("every prompt needs at least one token");
    longest = std::max(longest, prompt.size());
  }
  const int64_t b = int64_t(prompts.size()), length = int64_t(longest);
  // Pad positions hold any valid id (the first prompt's first): they are never attended to.
  at::Tensor tokens = at::full({b, length}, prompts.front().front(), at::kLong);
  std::vector<int64_t> pads(prompts.size());
  for (size_t row = 0; row < prompts.size(); ++row) {
    pads[row] = length - int64_t(prompts[row].size());
    tokens[int64_t(row)].narrow(0, pads[row], int64_t(prompts[row].size()))
        .copy_(at::tensor(prompts[row], at::kLong));
  }
  if (std::any_of(pads.begin(), pads.end(), [](int64_t pad) { return pad > 0; })) {
    const at::Device device = model_->embed_tokens.device();
    cache.pads = at::tensor(pads, at::kLong).to(device);
    cache.key_valid = at::arange(length, at::TensorOptions().dtype(at::kLong).device(device))
                          .view({1, length})
                          .ge(cache.pads.view({b, 1}));
  }
  return step(tokens, cache);
}

StaticKvCache Generator::static_cache(const KvCache& cache, int64_t capacity) const {
  c10::NoGradGuard no_grad;
  if (cache.keys.empty() || cache.length < 1) throw_invalid("a static cache starts from a prompt already run");
  if (capacity <= cache.length) throw_invalid("a static cache needs room past the prompt");
  const at::Device device = model_->embed_tokens.device();
  StaticKvCache out;
  out.capacity = capacity;
  for (size_t l = 0; l < cache.keys.size(); ++l) {
    for (auto [from, to] : {std::make_pair(&cache.keys[l], &out.keys), std::make_pair(&cache.values[l], &out.values)}) {
      std::vector<int64_t> shape = from->sizes().vec();
      shape[2] = capacity;
      to->push_back(at::zeros(shape, from->options()));
      to->back().narrow(2, 0, cache.length).copy_(*from);
    }
  }
  const auto long_options = at::TensorOptions().dtype(at::kLong).device(device);
  out.position = at::full({1}, cache.length, long_options);
  out.key_positions = at::arange(capacity, long_options).view({1, capacity});
  if (cache.pads.defined()) {
    out.pads = cache.pads;
    out.key_valid = at::ones({cache.pads.size(0), capacity}, cache.key_valid.options());
    out.key_valid.narrow(1, 0, cache.length).copy_(cache.key_valid.narrow(1, 0, cache.length));
  }
  return out;
}

at::Tensor Generator::step_static(const at::Tensor& token, StaticKvCache& cache) {
  c10::NoGradGuard no_grad;
  if (token.dim() != 2 || token.size(1) != 1) throw_invalid("static steps take one token per row: [batch, 1]");
  const ModelConfig& c = model_->config();
  const at::Tensor h = model_->embed(token.to(model_->embed_tokens.device()));
  const at::Tensor query = cache.position.view({1, 1});
  const int64_t keys = cache.capacity;
  at::Tensor causal = cache.key_positions.le(query).view({1, 1, 1, keys});
  at::Tensor sliding =
      c.sliding_window
          ? causal.logical_and((query - cache.key_positions).lt(*c.sliding_window).view({1, 1, 1, keys}))
          : causal;
  at::Tensor positions = query;
  if (cache.pads.defined()) {  // a padded batch: per-row positions, pad keys masked (the new token is real)
    const int64_t b = cache.pads.size(0);
    positions = (query - cache.pads.view({b, 1})).clamp_min(0);
    const at::Tensor valid = cache.key_valid.view({b, 1, 1, keys});
    causal = causal.logical_and(valid);
    sliding = sliding.logical_and(valid);
  }
  // The new key and value are written at the position. On CUDA one kernel rotates q and k, writes
  // them and attends over keys 0 .. position (kernels::decode_attention); otherwise attention reads
  // the whole cache, its unfilled part masked.
  const double cap = c.attn_logit_softcapping.value_or(0.0);
  const StoreAndAttend store_and_attend = [&](int64_t layer, const Projected& projected, const RopeTables& rope,
                                              const at::Tensor& mask) {
    at::Tensor& keys = cache.keys[size_t(layer)];
    at::Tensor& values = cache.values[size_t(layer)];
    const at::Tensor& v = projected.v;
    if (kernels::decode_attention_applies(projected.q, projected.k, v, keys, values, mask)) {
      if (kernels::decode_attention_rotates(projected.q, rope.cos, rope.sin)) {
        return kernels::decode_attention(projected.q, projected.k, v, keys, values, cache.position, mask,
                                         c.attention_scale, cap, rope.cos, rope.sin);
      }
      const auto [q, k] = rotated(projected, rope);
      return kernels::decode_attention(q, k, v, keys, values, cache.position, mask, c.attention_scale, cap);
    }
    const auto [q, k] = rotated(projected, rope);
    keys.index_copy_(2, cache.position, k);
    values.index_copy_(2, cache.position, v);
    return attend(q, keys, values, mask, c);
  };
  const at::Tensor logits = run_layers(h, store_and_attend, positions, causal, sliding);
  cache.position.add_(1);
  return logits;
}

at::Tensor Generator::sample(const at::Tensor& logits, const SamplingOptions& options, at::Generator& generator) const {
  if (options.temperature <= 0.0) return logits.argmax(-1);
  at::Tensor scaled = logits / options.temperature;
  if (options.top_k > 0 && options.top_k < scaled.size(-1)) {
    const at::Tensor kth = std::get<0>(scaled.topk(options.top_k, -1)).select(-1, options.top_k - 1).unsqueeze(-1);
    scaled = scaled.masked_fill(scaled.lt(kth), -std::numeric_limits<double>::infinity());
  }
  // Drawn on the CPU so a seed gives the same tokens on every device.
  return at::multinomial(at::softmax(scaled, -1).cpu(), 1, false, generator).squeeze(-1).to(logits.device());
}

}  // namespace matquant::model
