"""transformers + compressed-tensors load a `matquant slice --format compressed-tensors` export to
exactly the weights and logits of the dense export of the same checkpoint and precision.

    python3 tests/reference/check_compressed_tensors_export.py COMPRESSED_DIR DENSE_DIR

Exit 77 (ctest's skip) when transformers or compressed-tensors is not installed
(scripts/install-deps.sh installs both).
"""
import sys

try:
    import compressed_tensors  # noqa: F401  (transformers needs it to read the quantization_config)
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM
except ImportError as error:
    print(f"skip: {error}")
    sys.exit(77)

compressed_dir, dense_dir = sys.argv[1], sys.argv[2]
with safe_open(f"{compressed_dir}/model.safetensors", "pt") as f:
    int8 = [k for k in f.keys() if f.get_slice(k).get_dtype() == "I8"]
assert int8, "the export holds no int8 weights"
compressed = AutoModelForCausalLM.from_pretrained(compressed_dir, dtype=torch.float32).eval()
dense = AutoModelForCausalLM.from_pretrained(dense_dir, dtype=torch.float32).eval()
ids = torch.arange(3, 40).view(1, -1) % dense.config.vocab_size
with torch.no_grad():  # compressed-tensors decompresses the weights on this first forward
    logits = compressed(ids).logits
    assert torch.equal(logits, dense(ids).logits)
a = {k: v for k, v in compressed.state_dict().items() if not k.endswith(("weight_scale", "weight_zero_point"))}
b = dense.state_dict()
assert a.keys() == b.keys(), set(a) ^ set(b)
for name in a:
    assert a[name].dtype == torch.float32, (name, a[name].dtype)
    assert torch.equal(a[name], b[name]), (name, (a[name] - b[name]).abs().max().item())
print(f"ok: {len(int8)} int8 weights decompressed exactly, identical logits")
