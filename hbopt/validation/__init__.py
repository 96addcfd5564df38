"""Will it hold? Holdouts, walk-forward with re-optimisation, overfitting statistics and a
verdict. Sits above search/: a walk-forward runs searches."""
