// Purchases with their split; only the splits 'train' and 'live' (reported by the shop as they
// happen) may reach a model in training, never 'test'.
MATCH (u:User)-[b:BOUGHT]->(i:Item)
RETURN u.id AS user_id, i.id AS item_id, b.split AS split
