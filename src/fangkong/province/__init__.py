"""Province-wide work over many counties: planning batches on Dask (:mod:`.batch`)."""
