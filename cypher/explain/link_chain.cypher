// A link-chain reason: $user bought $via, which an item link (ALSO_BOUGHT, ALSO_VIEWED or
// $user's purchase may be of any split: a purchase made after training is a reason too.
// BOUGHT_TOGETHER, either direction) joins to $middle, which another link joins to $item.
MATCH p = (u:User {id: $user})-[b:BOUGHT]->(via:Item {id: $via})
          -[:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]-(mid:Item {id: $middle})
          -[:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]-(rec:Item {id: $item})
RETURN p
LIMIT 1
