// A collaborative reason: $user bought $via (any split: a live purchase too); $other bought
// $via and $item in train, the purchases the model was trained on.
MATCH p = (u:User {id: $user})-[b:BOUGHT]->(via:Item {id: $via})
          <-[b2:BOUGHT]-(other:User {id: $other})-[b3:BOUGHT]->(rec:Item {id: $item})
WHERE b2.split = 'train' AND b3.split = 'train'
RETURN p
