// The cheapest query a store answers: used to tell whether it is up.
RETURN 1 AS ok
