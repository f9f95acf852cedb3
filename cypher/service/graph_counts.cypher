// What the graph holds now, counted cheaply: a model artifact records the same counts as they
// were when it was trained, and a model is stale when they differ; and the marker every change
// of an item's brand or categories, or of the hierarchy, gives a new value (catalogue/reshaped),
// which no count sees.
CALL { MATCH (u:User) RETURN count(u) AS users }
CALL { MATCH (i:Item) RETURN count(i) AS items }
CALL { MATCH ()-[b:BOUGHT]->() RETURN count(b) AS purchases }
CALL { MATCH ()-[r:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]->() RETURN count(r) AS links }
OPTIONAL MATCH (g:Catalogue {name: 'graph'})
RETURN users, items, purchases, links, g.changed AS shape
