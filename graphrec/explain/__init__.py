"""Reasons as graph paths: candidate walks from a user to an item (:mod:`.paths`), each weighed
by what masking its edges takes from the model's score (:mod:`.attribution`), ranked
(:mod:`.ranker`) and put into words and drawable JSON (:mod:`.reasons`)."""
