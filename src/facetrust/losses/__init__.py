"""Losses as pure functions of tensors; each docstring cites its paper.

``facetrust.losses.flip``: FLIP-MCL's SimCLR NT-Xent and view-consistency MSE, and the disjoint prompt
halves. Distillation losses live in ``facetrust.losses.distill``.
"""
