// BOUGHT relationships per split (train / test).
MATCH ()-[r:BOUGHT]->()
RETURN r.split AS split, count(*) AS count
