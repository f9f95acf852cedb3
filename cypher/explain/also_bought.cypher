// A ALSO_BOUGHT reason: $user bought $via, linked to $item by ALSO_BOUGHT (either direction).
MATCH p = (u:User {id: $user})-[b:BOUGHT]->(via:Item {id: $via})-[:ALSO_BOUGHT]-(rec:Item {id: $item})
WHERE b.split = 'train'
RETURN p
