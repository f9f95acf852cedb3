// Browser: a user's published recommendations, each with its reason paths drawn on the graph.
//   :param user => 'A3T0EJIUQDEWNI'
// (any user id that graphrec publish wrote; see graphrec/serving/publish.py for the stored form).
// One row per reason path: the recommendation's rank, the path's rank among its reasons, its
// kind, weight and sentence, and `path`: the real relationships of the graph between
// consecutive STEP nodes, in order. The graph view shows the user, the RECOMMENDED items and
// these paths; the table view reads like `graphrec explain`.
MATCH (u:User {id: $user})-[r:RECOMMENDED]->(i:Item)
OPTIONAL MATCH (u)-[:HAS_EXPLANATION]->(e:Explanation)-[:EXPLAINS]->(i)
OPTIONAL MATCH (e)-[s:STEP]->(node)
WHERE s.position > 0
OPTIONAL MATCH (e)-[before:STEP]->(previous)
WHERE before.position = s.position - 1
OPTIONAL MATCH hop = (previous)-[link]-(node)
WHERE type(link) = s.rel AND (startNode(link) = previous) = s.forward
WITH u, r, i, e, hop
ORDER BY r.rank, e.rank, s.position
RETURN r.rank AS rank, i.id AS item, i.title AS title, r.score AS score, e.rank AS reason,
       e.kind AS kind, e.weight AS weight, e.sentence AS sentence, u, r, i,
       collect(hop) AS path
ORDER BY rank, reason
