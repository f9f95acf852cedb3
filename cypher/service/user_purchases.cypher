// The items a user has bought (any split) and those they dismissed: never recommended again.
MATCH (u:User {id: $user})
OPTIONAL MATCH (u)-[:BOUGHT]->(i:Item)
WITH u, collect(i.id) AS items
OPTIONAL MATCH (u)-[:DISMISSED]->(d:Item)
RETURN u.id AS user_id, items, collect(d.id) AS dismissed
