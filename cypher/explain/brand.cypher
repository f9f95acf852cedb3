// A brand reason: $user bought $via, which shares its brand with $item.
MATCH p = (u:User {id: $user})-[b:BOUGHT]->(via:Item {id: $via})
          -[:HAS_BRAND]->(:Brand)<-[:HAS_BRAND]-(rec:Item {id: $item})
WHERE b.split = 'train'
RETURN p
