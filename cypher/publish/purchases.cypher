// The items each user of $users has bought (any split) or dismissed: never recommended again.
UNWIND $users AS id
MATCH (u:User {id: id})
OPTIONAL MATCH (u)-[:BOUGHT]->(i:Item)
WITH u, collect(i.id) AS bought
OPTIONAL MATCH (u)-[:DISMISSED]->(d:Item)
WITH u, bought, collect(d.id) AS dismissed
RETURN u.id AS user_id, bought + dismissed AS items
