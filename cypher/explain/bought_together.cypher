// A BOUGHT_TOGETHER reason: $user bought $via, linked to $item by BOUGHT_TOGETHER (either direction).
MATCH p = (u:User {id: $user})-[b:BOUGHT]->(via:Item {id: $via})-[:BOUGHT_TOGETHER]-(rec:Item {id: $item})
WHERE b.split = 'train'
RETURN p
