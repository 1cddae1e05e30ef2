"""Losses of Eq. 2, 3 and 10 against hand computations."""
import math

import pytest
import torch

from rgbt_tracking.trackers.mmnet.losses import (classification_loss, logistic_loss,
                                                 multitask_loss, response_labels)


def test_logistic_loss_is_eq2():
    scores = torch.tensor([[2.0, -1.0], [0.5, -3.0]])
    labels = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    terms = [math.log(1 + math.exp(-2.0)), math.log(1 + math.exp(-1.0)),
             math.log(1 + math.exp(0.5)), math.log(1 + math.exp(3.0))]
    assert float(logistic_loss(scores, labels)) == pytest.approx(sum(terms) / 4, rel=1e-6)
    weights = torch.tensor([[0.5, 0.0], [0.25, 0.25]])
    weighted = 0.5 * terms[0] + 0.25 * terms[2] + 0.25 * terms[3]
    assert float(logistic_loss(scores, labels, weights)) == pytest.approx(weighted, rel=1e-6)
    big = logistic_loss(torch.tensor([200.0]), torch.tensor([-1.0]))     # no overflow
    assert float(big) == pytest.approx(200.0)


def test_labels_are_positive_near_the_target_and_balanced():
    labels, weights = response_labels(torch.tensor([[1.0, 0.0], [0.0, -9.0]]), 5, 1.0)
    assert labels.shape == (2, 1, 5, 5)
    positive = {(r, c) for r in range(5) for c in range(5) if labels[0, 0, r, c] > 0}
    assert positive == {(2, 3), (1, 3), (3, 3), (2, 2), (2, 4)}   # within 1 cell of (row 2, col 3)
    assert float(weights[0][labels[0] > 0].sum()) == pytest.approx(0.5)
    assert float(weights[0][labels[0] < 0].sum()) == pytest.approx(0.5)
    assert bool((labels[1] < 0).all())                            # target outside the map
    assert float(weights[1].sum()) == pytest.approx(1.0)


def test_classification_loss_is_eq3_and_skips_unlabelled_samples():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [5.0, 5.0, 5.0]])
    classes = torch.tensor([0, 2, -1])

    def nll(row, k):
        return -math.log(math.exp(row[k]) / sum(math.exp(v) for v in row))

    expected = (nll([2.0, 0.0, -1.0], 0) + nll([0.0, 1.0, 0.0], 2)) / 2
    assert float(classification_loss(logits, classes).detach()) == pytest.approx(expected, rel=1e-6)
    none = classification_loss(logits.requires_grad_(), torch.tensor([-1, -1, -1]))
    assert float(none.detach()) == 0.0 and none.requires_grad
    total = multitask_loss(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0),
                           (0.5, 2.0, 1.5))
    assert float(total) == pytest.approx(0.5 * 1.0 + 1.5 * 2.0 + 2.0 * 3.0)
