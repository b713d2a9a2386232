"""Attention maps (and their gradients) of a vision transformer, recorded with forward hooks.

Attention rollout and gradient-weighted relevance need the softmax attention ``A`` of every block and,
for relevance, the gradient of a target with respect to ``A``. Neither open_clip nor timm returns them
from a normal forward pass (both call fused attention kernels), so ``AttentionRecorder`` derives them:

* ``A`` is recomputed from the block's own query/key projections: open_clip's ``nn.MultiheadAttention``
  from ``in_proj_weight`` applied to the block's input; timm's ``Attention`` from the output of its
  ``qkv`` Linear (with its ``q_norm`` / ``k_norm`` and ``scale``).
* ``dL/dA`` is exact without changing the forward pass: per head the block computes ``O = A V``, so
  ``dL/dA = (dL/dO) V^T``. ``dL/dO`` is the gradient at the input of the output projection (timm:
  ``attn.proj``'s input; open_clip: ``dL/d(out) @ W_out`` because ``out = O W_out^T + b``).

The model is not modified; hooks are removed when the context exits.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def _is_timm_attention(module: nn.Module) -> bool:
    return all(hasattr(module, a) for a in ("qkv", "proj", "num_heads", "head_dim", "scale", "q_norm", "k_norm"))


def attention_modules(vit: nn.Module) -> list[nn.Module]:
    """Self-attention modules of an open_clip or timm vision transformer, in forward order."""
    mha = [m for m in vit.modules() if isinstance(m, nn.MultiheadAttention)]
    timm_attn = [m for m in vit.modules() if _is_timm_attention(m)]
    found = mha + timm_attn
    if not found:
        raise TypeError(
            f"{type(vit).__name__} has no nn.MultiheadAttention (open_clip) or timm Attention blocks; "
            "attention rollout and relevance need one of those"
        )
    for module in timm_attn:
        if getattr(module, "gate", None) is not None or not isinstance(module.norm, nn.Identity):
            raise NotImplementedError("gated or scale-normed timm attention is not supported by facetrust.explain")
    return found


def _softmax_attention(q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    # q, k: (B, heads, N, head_dim) -> (B, heads, N, N)
    return torch.softmax((q * scale) @ k.transpose(-2, -1), dim=-1)


class AttentionRecorder:
    """``with AttentionRecorder(vit) as rec: out = model(x)`` -> ``rec.attentions``: [(B, heads, N, N)].

    With ``track_gradients=True``, call ``rec.gradients(scalar)`` after the forward pass to get
    ``[dscalar/dA]`` per block (same shapes), computed with ``torch.autograd.grad`` (parameters' ``.grad``
    are left untouched).
    """

    def __init__(self, vit: nn.Module, track_gradients: bool = False) -> None:
        self.modules = attention_modules(vit)
        self.track_gradients = track_gradients
        self.attentions: list[torch.Tensor] = []
        self._values: list[torch.Tensor] = []  # (B, heads, N, head_dim), detached
        self._head_outputs: list[tuple[nn.Module, torch.Tensor]] = []  # tensors in the graph
        self._handles: list[Any] = []

    # -- open_clip: nn.MultiheadAttention(q_x, k_x, v_x, need_weights=False) --------------------
    def _mha_hook(self, module: nn.MultiheadAttention, args: tuple, kwargs: dict, output: Any) -> None:
        query = args[0] if args else kwargs["query"]
        x = query if module.batch_first else query.transpose(0, 1)  # (B, N, D)
        x = x.detach()
        batch, tokens, _ = x.shape
        q, k, v = F.linear(x, module.in_proj_weight, module.in_proj_bias).chunk(3, dim=-1)

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, tokens, module.num_heads, module.head_dim).transpose(1, 2)

        self.attentions.append(_softmax_attention(heads(q), heads(k), module.head_dim**-0.5))
        if self.track_gradients:
            out = output[0] if isinstance(output, tuple) else output
            self._values.append(heads(v))
            self._head_outputs.append((module, out))

    # -- timm: Attention with a fused qkv Linear ------------------------------------------------
    def _timm_qkv_hook(self, attn: nn.Module):
        def hook(module: nn.Module, inputs: tuple, qkv: torch.Tensor) -> None:
            batch, tokens, _ = qkv.shape
            parts = qkv.detach().reshape(batch, tokens, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = parts.unbind(0)
            with torch.no_grad():
                q, k = attn.q_norm(q), attn.k_norm(k)
            self.attentions.append(_softmax_attention(q, k, attn.scale))
            if self.track_gradients:
                self._values.append(v)

        return hook

    def _timm_proj_hook(self, attn: nn.Module):
        def hook(module: nn.Module, inputs: tuple) -> None:
            self._head_outputs.append((attn, inputs[0]))  # (B, N, heads * head_dim), before proj

        return hook

    def __enter__(self) -> AttentionRecorder:
        self.attentions, self._values, self._head_outputs = [], [], []
        for module in self.modules:
            if isinstance(module, nn.MultiheadAttention):
                self._handles.append(module.register_forward_hook(self._mha_hook, with_kwargs=True))
            else:
                self._handles.append(module.qkv.register_forward_hook(self._timm_qkv_hook(module)))
                if self.track_gradients:
                    self._handles.append(module.proj.register_forward_pre_hook(self._timm_proj_hook(module)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def gradients(self, scalar: torch.Tensor) -> list[torch.Tensor]:
        """d scalar / d A for every recorded block: list of (B, heads, N, N)."""
        if not self.track_gradients:
            raise RuntimeError("create the recorder with track_gradients=True")
        tensors = [t for _, t in self._head_outputs]
        grads = torch.autograd.grad(scalar, tensors, allow_unused=True)
        result = []
        for (module, _), grad, value in zip(self._head_outputs, grads, self._values, strict=True):
            if grad is None:  # the target does not depend on this block
                result.append(torch.zeros_like(self.attentions[len(result)]))
                continue
            if isinstance(module, nn.MultiheadAttention):
                grad = grad if module.batch_first else grad.transpose(0, 1)
                grad = grad @ module.out_proj.weight  # dL/dO before the output projection
            batch, tokens, _ = grad.shape
            grad_heads = grad.reshape(batch, tokens, value.shape[1], value.shape[3]).transpose(1, 2)
            result.append(grad_heads @ value.transpose(-2, -1))  # (B, heads, N, N)
        return result
