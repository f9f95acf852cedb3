// A link-chain reason: $user bought $via, which an item link (ALSO_BOUGHT, ALSO_VIEWED or
// BOUGHT_TOGETHER, either direction) joins to $middle, which another link joins to $item.
MATCH p = (u:User {id: $user})-[b:BOUGHT]->(via:Item {id: $via})
          -[:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]-(mid:Item {id: $middle})
          -[:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]-(rec:Item {id: $item})
WHERE b.split = 'train'
RETURN p
LIMIT 1
