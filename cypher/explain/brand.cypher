// A brand reason: $user bought $via, which shares its brand with $item.
// $user's purchase may be of any split: a purchase made after training is a reason too.
MATCH p = (u:User {id: $user})-[b:BOUGHT]->(via:Item {id: $via})
          -[:HAS_BRAND]->(:Brand)<-[:HAS_BRAND]-(rec:Item {id: $item})
RETURN p
