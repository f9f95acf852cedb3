// A collaborative reason: $user bought $via (any split: a live purchase too); $other bought
// $via and $item in the purchases the served model's paths walk: the train split it learnt from
// and those reported live (never a test purchase). $start is the first hop's type: BOUGHT, or
// VIEWED for a shopper who has bought nothing yet. $other null: any such shopper (the web
// service's answers do not name other shoppers).
MATCH p = (u:User {id: $user})-[b:BOUGHT|VIEWED]->(via:Item {id: $via})
          <-[b2:BOUGHT]-(other:User)-[b3:BOUGHT]->(rec:Item {id: $item})
WHERE type(b) = $start AND b2.split IN ['train', 'live'] AND b3.split IN ['train', 'live']
  AND ($other IS NULL OR other.id = $other)
RETURN p
