"""Alignment losses behind one interface: margin contrastive (cosine) and InfoNCE."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from training.methods.losses import (
    AlignmentLoss,
    ContrastiveCosineLoss,
    InfoNCELoss,
    build_alignment_loss,
)


def test_contrastive_matches_torch_cosine_embedding_loss_with_one_negative() -> None:
    torch.manual_seed(0)
    image, text = torch.randn(6, 8), torch.randn(6, 8)
    loss = ContrastiveCosineLoss(margin=0.2, negatives=1, average="all")
    torch.manual_seed(1)
    got = loss(image, text)
    torch.manual_seed(1)
    shift = int(torch.randperm(5)[0]) + 1
    negatives = torch.roll(text, -shift, 0)  # image i against text i + shift
    reference = torch.nn.CosineEmbeddingLoss(margin=0.2)(
        torch.cat([image, image]),
        torch.cat([text, negatives]),
        torch.cat([torch.ones(6), -torch.ones(6)]),
    )
    assert float(got) == pytest.approx(float(reference), rel=1e-6)


def test_contrastive_with_all_negatives_uses_every_off_diagonal_pair() -> None:
    torch.manual_seed(0)
    image, text = torch.randn(5, 8), torch.randn(5, 8)
    sims = F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).T
    off = sims[~torch.eye(5, dtype=torch.bool)]
    expected = ((1 - sims.diagonal()).mean() + (off - 0.3).clamp(min=0).mean()) / 2
    got = ContrastiveCosineLoss(margin=0.3, average="all")(image, text)
    assert float(got) == pytest.approx(float(expected), rel=1e-6)


def test_contrastive_averages_the_negative_term_over_violating_pairs_by_default() -> None:
    torch.manual_seed(0)
    image, text = torch.randn(5, 8), torch.randn(5, 8)
    sims = F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).T
    hinge = (sims[~torch.eye(5, dtype=torch.bool)] - 0.1).clamp(min=0)
    assert 0 < int((hinge > 0).sum()) < hinge.numel()  # some negatives are already apart
    expected = ((1 - sims.diagonal()).mean() + hinge.sum() / (hinge > 0).sum()) / 2
    got = ContrastiveCosineLoss(margin=0.1)(image, text)
    assert float(got) == pytest.approx(float(expected), rel=1e-6)


def test_contrastive_is_zero_for_aligned_pairs_with_far_negatives() -> None:
    basis = torch.eye(4)
    assert float(ContrastiveCosineLoss(margin=0.1)(basis, basis)) == pytest.approx(0.0, abs=1e-6)


def test_infonce_prefers_aligned_pairs_and_learns_its_temperature() -> None:
    torch.manual_seed(0)
    loss = InfoNCELoss()
    assert loss.temperature == pytest.approx(0.07, rel=1e-4)
    aligned = F.normalize(torch.randn(8, 16), dim=-1)
    shuffled = aligned[torch.randperm(8)]
    good = loss(aligned, aligned)
    assert float(good) < float(loss(aligned, shuffled))
    good.backward()
    assert loss.logit_scale.grad is not None


def test_one_interface_builds_both() -> None:
    assert isinstance(build_alignment_loss("contrastive"), AlignmentLoss)
    assert isinstance(build_alignment_loss("infonce"), AlignmentLoss)
    with pytest.raises(ValueError, match="unknown alignment loss"):
        build_alignment_loss("triplet")
