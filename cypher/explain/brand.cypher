// A brand reason: $user bought $via, which shares its brand with $item.
// $user's purchase may be of any split: a purchase made after training is a reason too.
// $start is the first hop's type: BOUGHT, or VIEWED for a shopper who has bought nothing yet.
MATCH p = (u:User {id: $user})-[b:BOUGHT|VIEWED]->(via:Item {id: $via})
          -[:HAS_BRAND]->(:Brand)<-[:HAS_BRAND]-(rec:Item {id: $item})
WHERE type(b) = $start
RETURN p
