// One user who has bought something (the demo shows their recommendations).
MATCH (u:User)-[:BOUGHT]->(:Item)
RETURN u.id AS user_id
ORDER BY user_id
LIMIT 1
