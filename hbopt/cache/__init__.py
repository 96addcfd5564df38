"""Candles: the parquet store, imports, synthetic data, resampling and the tmpfs mirror."""
