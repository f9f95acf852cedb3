// A link-chain reason: $user bought $via, which the item link $first (ALSO_BOUGHT, ALSO_VIEWED
// or BOUGHT_TOGETHER) joins to $middle, which the link $second joins to $item. Each runs the
// way the sentence reads: $first_forward true, from $via to $middle (false: the other way);
// $second_forward true, from $middle to $item. Two items may be joined by links of several
// types, or both ways: these name the one path shown.
// $user's purchase may be of any split: a purchase made after training is a reason too.
// $start is the first hop's type: BOUGHT, or VIEWED for a shopper who has bought nothing yet.
MATCH p = (u:User {id: $user})-[b:BOUGHT|VIEWED]->(via:Item {id: $via})
          -[l1:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]-(mid:Item {id: $middle})
          -[l2:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER]-(rec:Item {id: $item})
WHERE type(b) = $start AND type(l1) = $first AND (startNode(l1) = via) = $first_forward
  AND type(l2) = $second AND (startNode(l2) = mid) = $second_forward
RETURN p
