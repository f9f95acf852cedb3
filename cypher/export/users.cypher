// Every user id (users with no purchase still get an index).
MATCH (u:User)
RETURN u.id AS user_id
