"""Attention maps, their gradients, rollout and relevance against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facetrust.explain.attention import AttentionRecorder
from facetrust.explain.clip_relevance import relevance_matrix
from facetrust.explain.rollout import rollout_matrix, source_row


def tiny_timm_vit(hw=(32, 48), patch=8, depth=3):
    import timm

    torch.manual_seed(0)
    return timm.create_model("vit_tiny_patch16_224", img_size=hw, patch_size=patch, depth=depth, embed_dim=32,
                             num_heads=2, num_classes=2).eval()


def tiny_open_clip_tower(hw=(32, 48), patch=8, layers=3):
    from open_clip.transformer import VisionTransformer

    torch.manual_seed(0)
    return VisionTransformer(image_size=hw, patch_size=patch, width=32, layers=layers, heads=2, mlp_ratio=2,
                             output_dim=16).eval()


def test_timm_attention_and_gradients_match_the_explicit_softmax():
    """Reference: timm's own non-fused path, whose softmax output (attn_drop's output) is in the graph."""
    vit = tiny_timm_vit()
    reference: list[torch.Tensor] = []
    handles = []
    for block in vit.blocks:
        block.attn.fused_attn = False
        handles.append(block.attn.attn_drop.register_forward_hook(lambda m, i, o: reference.append(o)))
    x = torch.randn(1, 3, 32, 48)
    with AttentionRecorder(vit, track_gradients=True) as recorder:
        score = vit(x)[0, 1]
        expected_grads = torch.autograd.grad(score, reference, retain_graph=True)
        grads = recorder.gradients(score)
    for handle in handles:
        handle.remove()
    assert len(recorder.attentions) == 3
    for got, want, got_grad, want_grad in zip(recorder.attentions, reference, grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(got_grad, want_grad, atol=1e-7, rtol=1e-4)
        assert want_grad.abs().max() > 1e-4  # the comparison is not between zeros


def naive_open_clip_forward(visual, x):
    """The open_clip tower written out with explicit attention matrices that keep their gradients."""
    tokens = visual._embeds(x)
    attentions = []
    for block in visual.transformer.resblocks:
        mha = block.attn
        h = block.ln_1(tokens)
        q, k, v = F.linear(h, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
        b, n, d = q.shape
        q, k, v = (t.reshape(b, n, mha.num_heads, d // mha.num_heads).transpose(1, 2) for t in (q, k, v))
        attention = torch.softmax(q @ k.transpose(-2, -1) / (d // mha.num_heads) ** 0.5, dim=-1)
        attentions.append(attention)
        out = mha.out_proj((attention @ v).transpose(1, 2).reshape(b, n, d))
        tokens = tokens + block.ls_1(out)
        tokens = tokens + block.ls_2(block.mlp(block.ln_2(tokens)))
    pooled, _ = visual._pool(tokens)
    return pooled @ visual.proj, attentions


def test_open_clip_attention_and_gradients_match_a_naive_forward():
    visual = tiny_open_clip_tower()
    x = torch.randn(1, 3, 32, 48)
    embedding, naive_attentions = naive_open_clip_forward(visual, x)
    torch.testing.assert_close(embedding, visual(x), atol=1e-5, rtol=1e-4)  # the reference is the same model
    expected_grads = torch.autograd.grad(embedding[0, 3], naive_attentions)
    with AttentionRecorder(visual, track_gradients=True) as recorder:
        score = visual(x)[0, 3]
        grads = recorder.gradients(score)
    for got, want, got_grad, want_grad in zip(recorder.attentions, naive_attentions, grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want.detach(), atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(got_grad, want_grad, atol=1e-6, rtol=1e-4)
        assert want_grad.abs().max() > 1e-4


def test_open_clip_attention_matches_torch_need_weights():
    """Independent of our q/k recomputation: nn.MultiheadAttention's own per-head weights."""
    visual = tiny_open_clip_tower(layers=1)
    block = visual.transformer.resblocks[0]
    x = torch.randn(1, 3, 32, 48)
    with AttentionRecorder(visual) as recorder:
        visual(x)
    h = block.ln_1(visual._embeds(x))
    _, weights = block.attn(h, h, h, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(recorder.attentions[0], weights, atol=1e-6, rtol=1e-5)


def test_rollout_matches_a_numpy_loop():
    rng = np.random.default_rng(0)
    attentions = [torch.from_numpy(rng.dirichlet(np.ones(5), size=(2, 3, 5))).float() for _ in range(3)]
    expected = np.eye(5)
    for attention in attentions:
        fused = attention.numpy()[0].mean(axis=0)
        mixed = 0.5 * fused + 0.5 * np.eye(5)
        mixed = mixed / mixed.sum(axis=1, keepdims=True)
        expected = mixed @ expected
    got = rollout_matrix(attentions)[0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)


def test_rollout_follows_a_hand_made_attention_path():
    """Class token attends only to token 2; token 2 only to token 4: the rollout must reach token 4."""
    first = torch.eye(5)[None, None].clone()
    first[0, 0, 2] = torch.tensor([0, 0, 0, 0, 1.0])
    second = torch.eye(5)[None, None].clone()
    second[0, 0, 0] = torch.tensor([0, 0, 1.0, 0, 0])
    scores = source_row(rollout_matrix([first, second]), n_prefix=1)[0]
    assert int(scores.argmax()) in (1, 3)  # token 2 or 4 (indices over patches, prefix removed)
    assert scores[3] > 0.2 and scores[0] == 0 and scores[2] == 0


def test_relevance_matches_a_numpy_loop():
    rng = np.random.default_rng(1)
    attentions = [torch.from_numpy(rng.dirichlet(np.ones(4), size=(1, 2, 4))).float() for _ in range(3)]
    gradients = [torch.from_numpy(rng.normal(size=(1, 2, 4, 4))).float() for _ in range(3)]
    for start in (0, 1, -1):
        expected = np.eye(4)
        blocks = list(range(3))[start:] if start >= 0 else list(range(3))[start:]
        for layer in blocks:
            a, g = attentions[layer].numpy()[0], gradients[layer].numpy()[0]
            weighted = np.zeros((4, 4))
            for head in range(2):
                for i in range(4):
                    for j in range(4):
                        weighted[i, j] += max(a[head, i, j] * g[head, i, j], 0.0) / 2
            expected = expected + weighted @ expected
        got = relevance_matrix(attentions, gradients, start_layer=start)[0].numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_unsupported_model_is_named():
    with pytest.raises(TypeError, match="Sequential"):
        AttentionRecorder(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)))
