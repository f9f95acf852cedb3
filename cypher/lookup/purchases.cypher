// $pairs: [{user, item}]; those the store holds as a purchase (a BOUGHT relationship): the
// purchases of other shoppers that the reason paths a command shows or `graphrec publish`
// writes go through, which a shopper forgotten since training (and an id used again since by
// someone new) no longer has.
UNWIND $pairs AS pair
MATCH (:User {id: pair.user})-[:BOUGHT]->(:Item {id: pair.item})
RETURN pair.user AS user, pair.item AS item
