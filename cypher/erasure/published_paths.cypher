// Deletes up to $limit published reason paths (Explanation nodes) that name any of the users
// $ids: their own (HAS_EXPLANATION) and other users' whose path goes through one of them as a
// co-buyer (STEP). Repeat until none; `others` counts those of other users.
UNWIND $ids AS id
MATCH (u:User {id: id})
MATCH (e:Explanation)-[:HAS_EXPLANATION|STEP]-(u)
WITH DISTINCT e LIMIT $limit
WITH e, CASE WHEN e.user IN $ids THEN 0 ELSE 1 END AS other
DETACH DELETE e
RETURN count(e) AS removed, sum(other) AS others
