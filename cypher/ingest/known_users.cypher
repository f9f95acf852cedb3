// $ids: user ids an update names outside its own users file; those the store holds.
UNWIND $ids AS id
MATCH (u:User {id: id})
RETURN u.id AS id
