// Deletes up to $limit RECOMMENDED relationships of the users in $users (repeat until none).
UNWIND $users AS id
MATCH (:User {id: id})-[r:RECOMMENDED]->(:Item)
WITH r LIMIT $limit
DELETE r
