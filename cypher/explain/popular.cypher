// A popular item shown to a shopper who has bought nothing yet: the item with its category.
MATCH p = (rec:Item {id: $item})-[:IN_CATEGORY]->(:Category)
RETURN p
