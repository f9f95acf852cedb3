// The items each user of $users has bought (any split): never recommended again.
UNWIND $users AS id
MATCH (u:User {id: id})
OPTIONAL MATCH (u)-[:BOUGHT]->(i:Item)
RETURN u.id AS user_id, collect(i.id) AS items
