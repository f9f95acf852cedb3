// A category reason: $user bought $via, which is in the same leaf category as $item.
MATCH p = (u:User {id: $user})-[b:BOUGHT]->(via:Item {id: $via})
          -[:IN_CATEGORY]->(:Category)<-[:IN_CATEGORY]-(rec:Item {id: $item})
WHERE b.split = 'train'
RETURN p
