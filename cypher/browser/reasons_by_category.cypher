// Browser: which kinds of reason carry the published recommendations of each category.
//   :param category => null
// (every category), or :param category => 'Shampoos' (one leaf category).
// Each recommendation counts once, by its first reason (Explanation rank 1), under the
// leaf category of the recommended item (under each of its categories, read as a set). `percent` is the share of that category's explained
// recommendations; `mean_weight` the mean weight of those reasons. Most common kind first.
MATCH (e:Explanation {rank: 1})-[:EXPLAINS]->(:Item)-[:IN_CATEGORY]->(c:Category)
WHERE $category IS NULL OR c.name = $category
WITH c.name AS category, e.kind AS kind, count(*) AS recommendations,
     avg(e.weight) AS mean_weight
WITH category, collect({kind: kind, recommendations: recommendations,
                        mean_weight: mean_weight}) AS kinds, sum(recommendations) AS total
UNWIND kinds AS row
RETURN category, total AS category_recommendations, row.kind AS kind,
       row.recommendations AS recommendations,
       round(100.0 * row.recommendations / total, 1) AS percent, row.mean_weight AS mean_weight
ORDER BY category_recommendations DESC, category, recommendations DESC, kind
