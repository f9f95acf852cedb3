// A category reason: $user bought $via, which is in $category, as $item is (an item of several
// categories, read as a set, has a path through each it shares).
// $user's purchase may be of any split: a purchase made after training is a reason too.
MATCH p = (u:User {id: $user})-[b:BOUGHT]->(via:Item {id: $via})
          -[:IN_CATEGORY]->(:Category {name: $category})<-[:IN_CATEGORY]-(rec:Item {id: $item})
RETURN p
