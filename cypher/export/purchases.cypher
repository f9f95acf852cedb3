// Purchases with their split; only split = 'train' may reach a model in training.
MATCH (u:User)-[b:BOUGHT]->(i:Item)
RETURN u.id AS user_id, i.id AS item_id, b.split AS split
