// The category hierarchy, child to parent.
MATCH (c:Category)-[:SUBCATEGORY_OF]->(p:Category)
RETURN c.name AS child, p.name AS parent
