// Click a recommendation: fetch its explanation and draw its reason paths as a small SVG graph.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var COLUMNS = 4, COL_W = 200, ROW_H = 76, PAD = 50, PAD_X = 100, R = 13, MAX_DRAWN = 5;
  var list = document.getElementById("recommendations");
  if (!list) return;
  var section = document.getElementById("explanation");
  var svg = document.getElementById("graph");
  var pathList = document.getElementById("paths");
  var current = null;

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function wrap(label, width) {
    var words = String(label).split(/\s+/), lines = [""];
    words.forEach(function (word) {
      var line = lines[lines.length - 1];
      if (line && (line + " " + word).length > width) lines.push(word);
      else lines[lines.length - 1] = line ? line + " " + word : word;
    });
    if (lines.length > 2) lines = [lines[0], lines[1].slice(0, width - 1) + "…"];
    return lines.map(function (l) { return l.length > width ? l.slice(0, width - 1) + "…" : l; });
  }

  // Nodes are merged across paths by type and id; a path's last node (the item) is the last
  // column, so paths of three nodes and of four line up.
  function layout(paths, shown) {
    var nodes = {}, columns = [], edges = {};
    for (var c = 0; c < COLUMNS; c++) columns.push([]);
    shown.forEach(function (p) {
      var path = paths[p];
      var ids = {};
      path.nodes.forEach(function (node, i) {
        var id = node.type + ":" + node.id;
        ids[node.key] = id;
        if (!nodes[id]) {
          var col = i === path.nodes.length - 1 ? COLUMNS - 1 : Math.min(i, COLUMNS - 2);
          nodes[id] = {id: id, node: node, col: col, paths: {}};
          columns[col].push(nodes[id]);
        }
        nodes[id].paths[p] = true;
      });
      path.relationships.forEach(function (rel) {
        var key = ids[rel.from] + "|" + rel.type + "|" + ids[rel.to];
        if (!edges[key]) edges[key] = {from: ids[rel.from], to: ids[rel.to], type: rel.type, paths: {}};
        edges[key].paths[p] = true;
      });
    });
    var rows = Math.max.apply(null, columns.map(function (col) { return col.length; }));
    var height = rows * ROW_H + PAD;
    columns.forEach(function (col, c) {
      col.forEach(function (n, i) {
        n.x = PAD_X + c * COL_W;
        n.y = (height - col.length * ROW_H) / 2 + i * ROW_H + ROW_H / 2 - 10;
      });
    });
    return {nodes: nodes, edges: Object.keys(edges).map(function (k) { return edges[k]; }),
            width: PAD_X * 2 + (COLUMNS - 1) * COL_W, height: height};
  }

  // The selected path and the strongest others, up to MAX_DRAWN; every path stays listed.
  function drawn(count, selected) {
    var shown = [selected];
    for (var p = 0; p < count && shown.length < MAX_DRAWN; p++) if (p !== selected) shown.push(p);
    return shown;
  }

  // the point at distance r from node n, on the way to (x, y)
  function toward(n, x, y, r) {
    var dx = x - n.x, dy = y - n.y, len = Math.sqrt(dx * dx + dy * dy) || 1;
    return {x: n.x + dx / len * r, y: n.y + dy / len * r};
  }

  function draw(explanation, selected) {
    var g = layout(explanation.paths, drawn(explanation.paths.length, selected));
    svg.textContent = "";
    svg.setAttribute("viewBox", "0 0 " + g.width + " " + g.height);
    svg.setAttribute("data-selected", selected);
    var defs = el("defs");
    ["plain", "top"].forEach(function (kind) {
      var marker = el("marker", {id: "arrow-" + kind, viewBox: "0 0 10 10", refX: 10, refY: 5,
                                 markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"});
      marker.appendChild(el("path", {d: "M0,0 L10,5 L0,10 z", "class": "arrow " + kind}));
      defs.appendChild(marker);
    });
    svg.appendChild(defs);
    var edgeLayer = el("g"), nodeLayer = el("g");
    svg.appendChild(edgeLayer); svg.appendChild(nodeLayer);
    var highest = 0;
    g.edges.forEach(function (e) {
      var a = g.nodes[e.from], b = g.nodes[e.to], top = !!e.paths[selected];
      // an edge that skips a column arcs over the column between, its label clear of the
      // highest node there (the curve's apex is (a.y + 2 cy + b.y) / 4)
      var bend = Math.abs(b.col - a.col) > 1 ? -0.35 * Math.abs(b.x - a.x) / 2 : 0;
      var cx = (a.x + b.x) / 2, cy = (a.y + b.y) / 2 + bend;
      if (bend) {
        var clear = skipped(g.nodes, a.col, b.col) - R - 18;
        cy = Math.min(cy, (4 * clear - a.y - b.y) / 2);
        highest = Math.min(highest, (a.y + 2 * cy + b.y) / 4 - 18);
      }
      var start = toward(a, cx, cy, R), end = toward(b, cx, cy, R + 2);
      var group = el("g", {"class": "edge" + (top ? " top" : ""), "data-type": e.type,
                           "data-from": a.node.id, "data-to": b.node.id});
      group.appendChild(el("path", {d: "M" + start.x + "," + start.y + " Q" + cx + "," + cy +
                                       " " + end.x + "," + end.y, fill: "none",
                                    "marker-end": "url(#arrow-" + (top ? "top" : "plain") + ")"}));
      group.appendChild(el("text", {x: (a.x + 2 * cx + b.x) / 4,
                                    y: (a.y + 2 * cy + b.y) / 4 - 6,
                                    "text-anchor": "middle"}, e.type));
      // the selected path's edges are drawn last, over the others
      if (top) edgeLayer.appendChild(group);
      else edgeLayer.insertBefore(group, edgeLayer.firstChild);
    });
    Object.keys(g.nodes).forEach(function (id) {
      var n = g.nodes[id], top = !!n.paths[selected];
      var group = el("g", {"class": "node " + n.node.type + (top ? " top" : ""),
                           "data-type": n.node.type, "data-id": n.node.id,
                           transform: "translate(" + n.x + "," + n.y + ")"});
      group.appendChild(el("title", {}, n.node.type + ": " + n.node.label));
      group.appendChild(el("circle", {r: R}));
      wrap(n.node.label, 26).forEach(function (line, i) {
        group.appendChild(el("text", {y: R + 15 + i * 13, "text-anchor": "middle"}, line));
      });
      nodeLayer.appendChild(group);
    });
    if (highest < 0) {  // an arc rose above the top: widen the view upwards
      svg.setAttribute("viewBox", "0 " + highest + " " + g.width + " " + (g.height - highest));
    }
  }

  // the y of the highest node in the columns strictly between two columns
  function skipped(nodes, colA, colB) {
    var lo = Math.min(colA, colB), hi = Math.max(colA, colB), y = Infinity;
    Object.keys(nodes).forEach(function (id) {
      if (nodes[id].col > lo && nodes[id].col < hi) y = Math.min(y, nodes[id].y);
    });
    return y;
  }

  function showPaths(explanation, selected) {
    pathList.textContent = "";
    explanation.paths.forEach(function (path, p) {
      var li = document.createElement("li");
      li.className = "path" + (p === selected ? " selected" : "") +
        (drawn(explanation.paths.length, selected).indexOf(p) < 0 ? " hidden-path" : "");
      li.setAttribute("data-kind", path.kind);
      li.textContent = path.sentence;
      if (path.weight !== null && path.weight !== undefined) {
        var w = document.createElement("span");
        w.className = "weight";
        w.textContent = Number(path.weight).toFixed(2);
        li.appendChild(w);
      }
      li.addEventListener("click", function () { render(explanation, p); });
      pathList.appendChild(li);
    });
  }

  function render(explanation, selected) {
    if (!explanation.paths.length) {
      svg.textContent = "";
      pathList.innerHTML = "<li class=\"empty\">No path in the graph explains this item.</li>";
      return;
    }
    draw(explanation, selected);
    showPaths(explanation, selected);
  }

  function open(li) {
    var item = li.getAttribute("data-item");
    Array.prototype.forEach.call(list.querySelectorAll(".rec"), function (other) {
      other.classList.toggle("selected", other === li);
    });
    current = item;
    section.hidden = false;
    section.setAttribute("aria-busy", "true");
    document.getElementById("explanation-title").textContent =
      li.querySelector(".title").textContent;
    fetch(list.getAttribute("data-api") + "/" + encodeURIComponent(item) + "/explanation")
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.error ? body.error.message : response.status);
          return body;
        });
      })
      .then(function (explanation) {
        if (current !== item) return;
        render(explanation, 0);
        section.setAttribute("data-item", item);
        section.removeAttribute("aria-busy");
      })
      .catch(function (error) {
        svg.textContent = "";
        pathList.innerHTML = "";
        var li2 = document.createElement("li");
        li2.className = "empty";
        li2.textContent = "Could not load the reasons: " + error.message;
        pathList.appendChild(li2);
        section.removeAttribute("aria-busy");
      });
  }

  // The feedback buttons post their form: a click or a key on them opens no explanation.
  list.addEventListener("click", function (event) {
    if (event.target.closest(".feedback")) return;
    var li = event.target.closest(".rec");
    if (li) open(li);
  });
  list.addEventListener("keydown", function (event) {
    if (event.target.closest(".feedback")) return;
    var li = event.target.closest(".rec");
    if (li && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); open(li); }
  });
})();
