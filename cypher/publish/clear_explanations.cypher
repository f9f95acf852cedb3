// Deletes up to $limit published Explanation nodes of the users in $users (repeat until none).
UNWIND $users AS id
MATCH (:User {id: id})-[:HAS_EXPLANATION]->(e:Explanation)
WITH e LIMIT $limit
DETACH DELETE e
