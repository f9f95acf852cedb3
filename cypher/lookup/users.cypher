// $ids: user ids; those the store holds (an update's purchases that name users outside its own
// files, the co-buyers of the paths `graphrec publish` writes, the ids `graphrec publish
// --users` names).
UNWIND $ids AS id
MATCH (u:User {id: id})
RETURN u.id AS id
