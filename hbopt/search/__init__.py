"""Study specs, search spaces, samplers, the optimisation loop, storage and reports.
Talks to the engine only through its pool and results; knows nothing of hummingbot internals."""
