// A ALSO_BOUGHT reason: $user bought $via, linked to $item by ALSO_BOUGHT (either direction).
// $user's purchase may be of any split: a purchase made after training is a reason too.
// $start is the first hop's type: BOUGHT, or VIEWED for a shopper who has bought nothing yet.
MATCH p = (u:User {id: $user})-[b:BOUGHT|VIEWED]->(via:Item {id: $via})-[:ALSO_BOUGHT]-(rec:Item {id: $item})
WHERE type(b) = $start
RETURN p
