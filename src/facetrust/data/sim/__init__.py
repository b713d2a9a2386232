"""Synthetic benchmarks generated from data shipped by installed packages (no download)."""

from facetrust.data.sim.deepfake_sim import make_deepfake_sim
from facetrust.data.sim.face_id_sim import make_face_id_sim
from facetrust.data.sim.fas_sim import make_fas_sim

__all__ = ["make_deepfake_sim", "make_face_id_sim", "make_fas_sim"]
