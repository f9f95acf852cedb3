"""Baselines of the benchmark, one model per module, all honouring :class:`base.Baseline`."""
