"""Studies: grids of runs declared in gin, run locally or on a Ray cluster, then aggregated.

- :mod:`.study`: the ``study`` configurable, grid expansion and stable run ids;
- :mod:`.worker`: one run in its own process (``python -m disentangle_bench.sweeping.worker``);
- :mod:`.executors`: local worker processes and Ray tasks;
- :mod:`.sweep`: ``bench sweep`` (resume, retries, progress, output layout);
- :mod:`.aggregate`: the CSV / Parquet table and disentanglement_lib-style aggregate JSON.
"""
