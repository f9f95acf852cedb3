// The items a user has bought (any split): never recommended again.
MATCH (u:User {id: $user})
OPTIONAL MATCH (u)-[:BOUGHT]->(i:Item)
RETURN u.id AS user_id, collect(i.id) AS items
