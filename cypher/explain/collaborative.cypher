// A collaborative reason: $user and $other both bought $via, and $other bought $item.
MATCH p = (u:User {id: $user})-[b:BOUGHT]->(via:Item {id: $via})
          <-[b2:BOUGHT]-(other:User {id: $other})-[b3:BOUGHT]->(rec:Item {id: $item})
WHERE b.split = 'train' AND b2.split = 'train' AND b3.split = 'train'
RETURN p
