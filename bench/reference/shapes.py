"""Model shapes of the benchmarks, as transformers configs: the same presets as
lib/model/initialization.cpp's builtin_config (published config.json of google/gemma-2-2b,
google/gemma-2-9b, mistralai/Mistral-7B-v0.1; tiny-gemma2 for CPU runs), weights random."""
import torch
from transformers import AutoModelForCausalLM, Gemma2Config, MistralConfig

_GEMMA2 = dict(head_dim=256, query_pre_attn_scalar=256, sliding_window=4096, attn_logit_softcapping=50.0,
               final_logit_softcapping=30.0, hidden_activation="gelu_pytorch_tanh", max_position_embeddings=8192,
               rms_norm_eps=1e-6, rope_theta=10000.0, bos_token_id=2, eos_token_id=1, pad_token_id=0)
SHAPES = {
    "gemma2-2b-shape": lambda: Gemma2Config(vocab_size=256000, hidden_size=2304, intermediate_size=9216,
                                            num_hidden_layers=26, num_attention_heads=8, num_key_value_heads=4,
                                            **_GEMMA2),
    "gemma2-9b-shape": lambda: Gemma2Config(vocab_size=256000, hidden_size=3584, intermediate_size=14336,
                                            num_hidden_layers=42, num_attention_heads=16, num_key_value_heads=8,
                                            **_GEMMA2),
    "mistral-7b-shape": lambda: MistralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                                              num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                                              rope_theta=10000.0, sliding_window=4096, max_position_embeddings=32768,
                                              rms_norm_eps=1e-5, hidden_act="silu"),
    "tiny-gemma2": lambda: Gemma2Config(vocab_size=512, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                                        num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                                        query_pre_attn_scalar=32, sliding_window=64, attn_logit_softcapping=50.0,
                                        final_logit_softcapping=30.0, max_position_embeddings=512, rms_norm_eps=1e-6,
                                        rope_theta=10000.0, hidden_activation="gelu_pytorch_tanh", bos_token_id=1,
                                        eos_token_id=2, pad_token_id=0),
}


def add_shape_arguments(parser, shape="gemma2-2b-shape", layers=0):
    """--shape, --layers (0 = the preset's) and --vocab (0 = the preset's), as the C++ benchmarks take them."""
    parser.add_argument("--shape", default=shape, choices=sorted(SHAPES))
    parser.add_argument("--layers", type=int, default=layers)
    parser.add_argument("--vocab", type=int, default=0)


def make_config(shape, layers=0, vocab=0):
    config = SHAPES[shape]()
    if layers > 0:
        config.num_hidden_layers = layers
        if hasattr(config, "layer_types") and config.layer_types is not None:
            config.layer_types = config.layer_types[:layers]
    if vocab > 0:
        config.vocab_size = vocab
    config.use_cache = False
    return config


def make_model(config, device, dtype, attn="eager", seed=0):
    """Random weights as matquant's initialize_random: normal(0, 0.02) projections and embeddings,
    norms at their identity (0 for Gemma's (1 + w) norms, 1 otherwise)."""
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
    gemma = config.model_type.startswith("gemma")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.fill_(0.0 if gemma else 1.0)
            else:
                p.normal_(0.0, 0.02)
    return model


def matmul_parameters(config):
    """Projections of every block and the LM head (bench/bench_common.h)."""
    h, q = config.hidden_size, config.num_attention_heads * config.head_dim
    kv = config.num_key_value_heads * config.head_dim
    per_layer = h * q + 2 * h * kv + q * h + 3 * h * config.intermediate_size
    return config.num_hidden_layers * per_layer + config.vocab_size * h


def forward_backward_flops(config, tokens, seq):
    """6 * N_matmul * tokens + 12 * L * seq * heads * head_dim * tokens (bench/bench_common.h)."""
    attention = 12 * config.num_hidden_layers * seq * config.num_attention_heads * config.head_dim
    return (6 * matmul_parameters(config) + attention) * tokens


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
