// Browser: the items of a brand and who bought them.
//   :param brand => 'Olay'
MATCH p = (:User)-[:BOUGHT]->(:Item)-[:HAS_BRAND]->(:Brand {name: $brand})
RETURN p
LIMIT 100
