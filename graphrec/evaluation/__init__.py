"""Measuring models: the papers' protocol (:mod:`.evaluate`, :mod:`.metrics`), explanation
fidelity (:mod:`.fidelity`), the baselines (:mod:`.baselines`) and the benchmark that runs them
all side by side (:mod:`.benchmark`)."""
