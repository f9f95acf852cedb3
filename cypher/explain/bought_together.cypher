// A BOUGHT_TOGETHER reason: $user bought $via, linked to $item by BOUGHT_TOGETHER: from $via to $item when
// $forward is true, from $item to $via when false (the direction the sentence reads; a link
// that runs both ways is two relationships, and the path shown is one of them).
// $user's purchase may be of any split: a purchase made after training is a reason too.
// $start is the first hop's type: BOUGHT, or VIEWED for a shopper who has bought nothing yet.
MATCH p = (u:User {id: $user})-[b:BOUGHT|VIEWED]->(via:Item {id: $via})-[l:BOUGHT_TOGETHER]-(rec:Item {id: $item})
WHERE type(b) = $start AND (startNode(l) = via) = $forward
RETURN p
