"""The run pipeline: an experiment's config, training, the representation, evaluation, the
results table and the run record."""
