// A ALSO_VIEWED reason: $user bought $via, linked to $item by ALSO_VIEWED (either direction).
MATCH p = (u:User {id: $user})-[b:BOUGHT]->(via:Item {id: $via})-[:ALSO_VIEWED]-(rec:Item {id: $item})
WHERE b.split = 'train'
RETURN p
