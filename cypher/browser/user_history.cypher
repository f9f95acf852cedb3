// Browser: what a user bought, with brands and categories.
//   :param user => 'A3T0EJIUQDEWNI'
MATCH (u:User {id: $user})-[b:BOUGHT]->(i:Item)
OPTIONAL MATCH (i)-[hb:HAS_BRAND]->(br:Brand)
OPTIONAL MATCH (i)-[ic:IN_CATEGORY]->(c:Category)
RETURN u, b, i, hb, br, ic, c
