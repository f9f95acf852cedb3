"""The recommender: the KGRec network (:mod:`.kgrec`), its training (:mod:`.train`), a trained
model on disk (:mod:`.artifact`) and the store-to-artifact job (:mod:`.pipeline`)."""
