"""``facetrust demo``: the whole pipeline on fas-sim, and its HTML report."""
