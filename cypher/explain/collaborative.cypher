// A collaborative reason: $user bought $via (any split: a live purchase too); $other bought
// $via and $item in train, the purchases the model was trained on. $start is the first hop's
// type: BOUGHT, or VIEWED for a shopper who has bought nothing yet.
MATCH p = (u:User {id: $user})-[b:BOUGHT|VIEWED]->(via:Item {id: $via})
          <-[b2:BOUGHT]-(other:User {id: $other})-[b3:BOUGHT]->(rec:Item {id: $item})
WHERE type(b) = $start AND b2.split = 'train' AND b3.split = 'train'
RETURN p
