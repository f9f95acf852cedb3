// A category reason: $user bought $via, which is in the same leaf category as $item.
// $user's purchase may be of any split: a purchase made after training is a reason too.
MATCH p = (u:User {id: $user})-[b:BOUGHT]->(via:Item {id: $via})
          -[:IN_CATEGORY]->(:Category)<-[:IN_CATEGORY]-(rec:Item {id: $item})
RETURN p
