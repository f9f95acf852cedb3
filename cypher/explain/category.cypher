// A category reason: $user bought $via, which is in $category, as $item is (an item of several
// categories, read as a set, has a path through each it shares).
// $user's purchase may be of any split: a purchase made after training is a reason too.
// $start is the first hop's type: BOUGHT, or VIEWED for a shopper who has bought nothing yet.
MATCH p = (u:User {id: $user})-[b:BOUGHT|VIEWED]->(via:Item {id: $via})
          -[:IN_CATEGORY]->(:Category {name: $category})<-[:IN_CATEGORY]-(rec:Item {id: $item})
WHERE type(b) = $start
RETURN p
