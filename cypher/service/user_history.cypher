// What a user is answered from: the items they have bought (any split), those they dismissed
// (never recommended again) and those they viewed (their history until a first purchase).
MATCH (u:User {id: $user})
OPTIONAL MATCH (u)-[:BOUGHT]->(i:Item)
WITH u, collect(i.id) AS items
OPTIONAL MATCH (u)-[:DISMISSED]->(d:Item)
WITH u, items, collect(d.id) AS dismissed
OPTIONAL MATCH (u)-[:VIEWED]->(v:Item)
RETURN u.id AS user_id, items, dismissed, collect(v.id) AS viewed
