"""Answers from a trained model: the top k of a user (:mod:`.recommend`, :mod:`.ranking`), the
per-process service behind the HTTP API and the CLI (:mod:`.service`), and recommendations
written back into the graph (:mod:`.publish`)."""
