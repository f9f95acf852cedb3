// One item id, if the graph holds any: tells whether a catalogue was loaded.
MATCH (i:Item)
RETURN i.id AS id
LIMIT 1
