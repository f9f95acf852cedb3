// Browser: the users a kind of reason serves best.
//   :param kind => 'brand'
// (brand, category, also_bought, also_viewed, bought_together, collaborative or link_chain)
// For each user, how many of their published recommendations have a reason of this kind as
// the first one, out of how many, and those reasons' mean weight: the users whose
// recommendations lean on this kind most come first (25 of them).
MATCH (u:User)-[:HAS_EXPLANATION]->(e:Explanation {rank: 1, kind: $kind})
WITH u, count(e) AS led, avg(e.weight) AS mean_weight
MATCH (u)-[r:RECOMMENDED]->(:Item)
WITH u, led, mean_weight, count(r) AS recommendations
RETURN u.id AS user, led AS recommendations_led, recommendations,
       round(100.0 * led / recommendations, 1) AS percent, mean_weight
ORDER BY recommendations_led DESC, mean_weight DESC, user
LIMIT 25
