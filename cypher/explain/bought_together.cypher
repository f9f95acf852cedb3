// A BOUGHT_TOGETHER reason: $user bought $via, linked to $item by BOUGHT_TOGETHER (either direction).
// $user's purchase may be of any split: a purchase made after training is a reason too.
MATCH p = (u:User {id: $user})-[b:BOUGHT]->(via:Item {id: $via})-[:BOUGHT_TOGETHER]-(rec:Item {id: $item})
RETURN p
