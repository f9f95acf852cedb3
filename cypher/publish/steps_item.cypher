// $rows: [{explanation, key, position, rel, forward}]: the path nodes that are Items.
// A label cannot be a parameter, hence one file per label.
UNWIND $rows AS row
MATCH (e:Explanation {id: row.explanation})
MATCH (n:Item {id: row.key})
MERGE (e)-[s:STEP {position: row.position}]->(n)
SET s.rel = row.rel, s.forward = row.forward
