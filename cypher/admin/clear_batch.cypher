// Deletes up to $limit nodes with their relationships (repeat until none are left).
MATCH (n)
WITH n LIMIT $limit
DETACH DELETE n
