"""Which reduced precision a training step runs under: fp16 on CUDA, bf16 on a capable CPU.

CUDA mixed precision (``amp``) has been the default since the start. On a CPU, bfloat16
autocast is only worth it where the CPU computes bf16 natively (AMX tiles or AVX512-BF16):
there oneDNN runs the convolutions about twice as fast (the audio stream's training step,
one core: 2.0 s -> 0.95 s), while elsewhere it is emulated and slower than fp32. It is
opt-in (``cpu_bf16 = true``) so that a recipe's numbers never change with the CPU it meets;
asked for on a CPU without native bf16 it falls back to fp32 and says so, since it is a
speed setting, not a change of what is learnt. Validation always runs in fp32 on a CPU.
"""

from __future__ import annotations

import torch


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (Intel AMX or AVX512-BF16)."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    try:
        return any(getattr(torch.cpu, name)() for name in probes if hasattr(torch.cpu, name))
    except RuntimeError:  # a probe that cannot query this CPU: assume no native bf16
        return False


def training_autocast(device: torch.device, amp: bool, cpu_bf16: bool) -> tuple[torch.dtype | None, str]:
    """(the dtype to autocast the training step to, or None for fp32; a line for the log, or "")."""
    if device.type == "cuda":
        return (torch.float16, "") if amp else (None, "")
    if device.type == "cpu" and cpu_bf16:
        if native_cpu_bf16():
            return torch.bfloat16, "cpu_bf16: training steps autocast to bfloat16 (native on this CPU)"
        return None, "cpu_bf16: this CPU has no native bfloat16 (AMX / AVX512-BF16); training in fp32"
    return None, ""
