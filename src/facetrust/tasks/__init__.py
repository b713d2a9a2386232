"""Tasks wire models, losses and data into Lightning modules: ``fas`` trains the FLIP teachers."""
