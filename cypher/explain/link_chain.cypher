// A link-chain reason: $user bought $via, which an item link (ALSO_BOUGHT, ALSO_VIEWED or
// BOUGHT_TOGETHER, either direction) joins to $middle, which another link joins to $item.
// $user's purchase may be of any split: a purchase made after training is a reason too.
// $start is the first hop's type: BOUGHT, or VIEWED for a shopper who has bought nothing yet.
MATCH p = (u:User {id: $user})-[b:BOUGHT|VIEWED]->(via:Item {id: $via})
          -[:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]-(mid:Item {id: $middle})
          -[:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]-(rec:Item {id: $item})
WHERE type(b) = $start
RETURN p
LIMIT 1
