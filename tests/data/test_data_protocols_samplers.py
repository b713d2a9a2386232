from collections import Counter

import numpy as np
import pytest
import torch

from facetrust.data import BalancedBatchSampler, ImageDataset, read_manifest
from facetrust.data.dataset import collate
from facetrust.data.protocols import (
    Protocol,
    flip_protocol1,
    flip_protocol2,
    flip_protocol3,
    leave_one_domain_out,
    split_protocol,
)
from facetrust.data.transforms import eval_transform, simclr_views, train_transform
from facetrust.errors import DataError

PRE = {"input_size": (3, 24, 20), "mean": (0.48, 0.46, 0.41), "std": (0.27, 0.26, 0.28)}


def test_flip_protocol_names_and_domains():
    p1 = flip_protocol1()
    assert [p.name for p in p1] == ["OCI-M", "OMI-C", "OCM-I", "ICM-O"]
    assert all(set(p.sources) | {p.target} == set("MCIO") and p.target not in p.sources for p in p1)
    assert [p.name for p in flip_protocol2()] == ["CS-W", "SW-C", "CW-S"]
    p3 = flip_protocol3()
    assert len(p3) == 12 and len({(p.sources, p.target) for p in p3}) == 12
    extra = flip_protocol1(extra_sources=("celeba_spoof",))
    assert all(p.train_domains[-1] == "celeba_spoof" for p in extra)
    with pytest.raises(ValueError, match="also a source"):
        Protocol("bad", ("M",), "M")


def test_split_protocol_uses_source_train_and_val_and_all_of_the_target(tiny_sim):
    df = read_manifest(tiny_sim)
    protocols = leave_one_domain_out(sorted(df["domain"].unique()))
    assert [p.target for p in protocols] == sorted(df["domain"].unique())
    for protocol in protocols:
        train, val, test = split_protocol(df, protocol)
        assert set(train["domain"]) == set(val["domain"]) == set(protocol.sources)
        assert (train["split"] == "train").all() and (val["split"] == "val").all()
        assert len(test) == (df["domain"] == protocol.target).sum()
        assert not set(train["subject_id"]) & set(val["subject_id"])
        assert not set(train["subject_id"]) & set(test["subject_id"])
    with pytest.raises(DataError, match="not in the manifest"):
        split_protocol(df, Protocol("x", ("phone",), "moon"))


def test_balanced_sampler_draws_k_per_group_without_repeats_within_a_pass():
    groups = [("a", 0)] * 7 + [("a", 1)] * 3 + [("b", 0)] * 5 + [("b", 1)] * 11
    sampler = BalancedBatchSampler(groups, k=3, seed=1, num_batches=5)
    batches = list(sampler)
    assert len(batches) == 5 and sampler.batch_size == 12
    for batch in batches:
        assert Counter(groups[i] for i in batch) == {g: 3 for g in set(groups)}
    # group ("a", 1) has 3 items: each batch is one full pass, so each batch holds all three
    assert all(sorted(i for i in b if groups[i] == ("a", 1)) == [7, 8, 9] for b in batches)
    # group ("b", 1) has 11 items: the first 3 batches (9 draws) never repeat an item
    first = [i for b in batches[:3] for i in b if groups[i] == ("b", 1)]
    assert len(set(first)) == 9
    assert batches == list(BalancedBatchSampler(groups, k=3, seed=1, num_batches=5))
    assert batches != list(BalancedBatchSampler(groups, k=3, seed=2, num_batches=5))
    sampler.set_epoch(1)
    assert list(sampler) != batches


def test_dataset_items_and_transforms_follow_the_model_preprocess(tiny_sim):
    from facetrust.data import read_image
    from facetrust.predictor import preprocess_images

    df = read_manifest(tiny_sim)
    dataset = ImageDataset(df, eval_transform(PRE))
    item = dataset[3]
    assert item["label"] == df["label"][3] and item["domain"] == df["domain"][3] and item["index"] == 3
    expected = preprocess_images([read_image(df["abs_path"][3])], PRE)[0]
    np.testing.assert_allclose(item["image"].numpy(), expected, rtol=0, atol=1e-6)
    # normalisation check by hand: a flat image of value v maps to (v/255 - mean) / std
    flat = np.full((30, 30, 3), 200, np.uint8)
    for transform in (eval_transform(PRE), train_transform(PRE)):
        out = transform(flat)
        assert out.shape == (3, 24, 20)
        for c in range(3):
            torch.testing.assert_close(out[c], torch.full((24, 20), (200 / 255 - PRE["mean"][c]) / PRE["std"][c]),
                                       atol=0.2 / PRE["std"][c], rtol=0)  # colour jitter is mild
    v1, v2 = simclr_views(PRE)(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8))
    assert v1.shape == v2.shape == (3, 24, 20) and not torch.equal(v1, v2)
    batch = collate([dataset[i] for i in range(4)])
    assert batch["image"].shape == (4, 3, 24, 20) and batch["label"].dtype == torch.long
    assert batch["domain"] == df["domain"][:4].tolist()
    assert dataset.groups()[0] == (df["domain"][0], int(df["label"][0]))
