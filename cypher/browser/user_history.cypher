// Browser: what a user bought and viewed, with brands and categories.
//   :param user => 'A3T0EJIUQDEWNI'
MATCH (u:User {id: $user})-[b:BOUGHT|VIEWED]->(i:Item)
OPTIONAL MATCH (i)-[hb:HAS_BRAND]->(br:Brand)
OPTIONAL MATCH (i)-[ic:IN_CATEGORY]->(c:Category)
RETURN u, b, i, hb, br, ic, c
