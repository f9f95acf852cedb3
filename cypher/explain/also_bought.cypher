// A ALSO_BOUGHT reason: $user bought $via, linked to $item by ALSO_BOUGHT (either direction).
// $user's purchase may be of any split: a purchase made after training is a reason too.
MATCH p = (u:User {id: $user})-[b:BOUGHT]->(via:Item {id: $via})-[:ALSO_BOUGHT]-(rec:Item {id: $item})
RETURN p
