"""GPU kernel-time breakdown for the reference scripts' --profile runs, in the same classes and
layout as bench/kernel_profile.h (both read Kineto's CUDA activity), so the two sides compare."""
import collections
import contextlib
import time

import torch


def kernel_class(name):
    def has(*words):
        return any(w in name for w in words)
    if has("gemm", "nvjet", "cutlass", "xmma", "cublas", "Gemm"):
        return "matmul"
    if has("matquant"):
        return "matquant fused"
    if has("flash", "fmha", "attention"):
        return "fused attention"
    if has("softmax", "Softmax"):
        return "softmax"
    if has("reduce", "Reduce", "norm"):
        return "reduction"
    if has("Memcpy", "memcpy", "Memset", "memset"):
        return "memcpy/memset"
    if has("elementwise", "Elementwise", "vectorized", "unrolled"):
        return "elementwise"
    return "other"


@contextlib.contextmanager
def kernel_profile(units, top=25):
    """Profiles the body (already device-synchronised at its end by the caller) and prints the
    breakdown per unit (step or forward batch)."""
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as prof:
        start = time.perf_counter()
        yield
        wall = time.perf_counter() - start
    by_name = collections.defaultdict(lambda: [0.0, 0])
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            by_name[event.name][0] += event.device_time * 1e-6
            by_name[event.name][1] += 1
    gpu = sum(v[0] for v in by_name.values())
    if gpu <= 0:
        print("kernel profile: no GPU kernels recorded (CPU run?)")
        return
    print(f"kernel profile: wall {1e3 * wall / units:.2f} ms per unit, GPU busy {1e3 * gpu / units:.2f} ms per unit "
          f"({100 * gpu / wall:.1f}% of wall)")
    by_class = collections.defaultdict(float)
    for name, (seconds, _) in by_name.items():
        by_class[kernel_class(name)] += seconds
    for name, seconds in sorted(by_class.items(), key=lambda kv: -kv[1]):
        print(f"  class {name:<18}{1e3 * seconds / units:>10.2f} ms{100 * seconds / gpu:>8.1f}% of GPU time")
    for name, (seconds, count) in sorted(by_name.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"  {1e3 * seconds / units:>8.2f} ms {100 * seconds / gpu:>5.1f}% {count / units:>6.0f} launches  {name[:110]}")
