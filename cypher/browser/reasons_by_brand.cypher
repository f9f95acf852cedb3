// Browser: which kinds of reason carry the published recommendations of each brand.
//   :param brand => null
// (every brand), or :param brand => 'Olay' (one brand).
// Each recommendation counts once, by its first reason (Explanation rank 1), under the
// brand of the recommended item. `percent` is the share of that brand's explained
// recommendations; `mean_weight` the mean weight of those reasons. Most common kind first.
MATCH (e:Explanation {rank: 1})-[:EXPLAINS]->(:Item)-[:HAS_BRAND]->(b:Brand)
WHERE $brand IS NULL OR b.name = $brand
WITH b.name AS brand, e.kind AS kind, count(*) AS recommendations, avg(e.weight) AS mean_weight
WITH brand, collect({kind: kind, recommendations: recommendations,
                     mean_weight: mean_weight}) AS kinds, sum(recommendations) AS total
UNWIND kinds AS row
RETURN brand, total AS brand_recommendations, row.kind AS kind,
       row.recommendations AS recommendations,
       round(100.0 * row.recommendations / total, 1) AS percent, row.mean_weight AS mean_weight
ORDER BY brand_recommendations DESC, brand, recommendations DESC, kind
