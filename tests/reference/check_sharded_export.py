"""transformers loads a sharded `matquant slice` export exactly as the single-file one.

    python3 tests/reference/check_sharded_export.py SHARDED_DIR SINGLE_DIR

Both directories come from `matquant slice` of the same checkpoint and precision, one with a small
--max-shard-gb. Checks that transformers (AutoModelForCausalLM) reads every tensor of the sharded
layout through its index and that the two models give identical logits.
"""
import sys

import torch
from transformers import AutoModelForCausalLM

sharded_dir, single_dir = sys.argv[1], sys.argv[2]
sharded = AutoModelForCausalLM.from_pretrained(sharded_dir, dtype=torch.float32)
single = AutoModelForCausalLM.from_pretrained(single_dir, dtype=torch.float32)
a, b = sharded.state_dict(), single.state_dict()
assert a.keys() == b.keys(), set(a) ^ set(b)
for name in a:
    assert torch.equal(a[name], b[name]), name
ids = torch.arange(3, 40).view(1, -1) % sharded.config.vocab_size
with torch.no_grad():
    assert torch.equal(sharded(ids).logits, single(ids).logits)
print(f"ok: {len(a)} tensors, identical logits")
