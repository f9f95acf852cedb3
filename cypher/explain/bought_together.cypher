// A BOUGHT_TOGETHER reason: $user bought $via, linked to $item by BOUGHT_TOGETHER (either direction).
// $user's purchase may be of any split: a purchase made after training is a reason too.
// $start is the first hop's type: BOUGHT, or VIEWED for a shopper who has bought nothing yet.
MATCH p = (u:User {id: $user})-[b:BOUGHT|VIEWED]->(via:Item {id: $via})-[:BOUGHT_TOGETHER]-(rec:Item {id: $item})
WHERE type(b) = $start
RETURN p
