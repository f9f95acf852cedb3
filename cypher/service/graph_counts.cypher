// What the graph holds now, counted cheaply: a model artifact records the same counts as they
// were when it was trained, and a model is stale when they differ.
CALL { MATCH (u:User) RETURN count(u) AS users }
CALL { MATCH (i:Item) RETURN count(i) AS items }
CALL { MATCH ()-[b:BOUGHT]->() RETURN count(b) AS purchases }
CALL { MATCH ()-[r:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]->() RETURN count(r) AS links }
RETURN users, items, purchases, links
