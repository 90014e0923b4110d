// Sortable and filterable tables in plain JS. Without JS the tables are complete and readable.
document.documentElement.classList.add("js");
document.querySelectorAll("table.sortable").forEach(function (table) {
  var body = table.tBodies[0];
  table.querySelectorAll("thead th").forEach(function (th, col) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    th.textContent = "";
    th.appendChild(button);
    button.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var cell = row.cells[col];
        var text = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
        var number = parseFloat(text);
        return text !== "" && isFinite(text) ? number : text.toLowerCase();
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === "" || y === "") { return x === y ? 0 : (x === "" ? 1 : -1); }  // blanks last
        var order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
// The filter: every word must match a value in the row, where a cell's values are its whole text,
// its words and its data-value (a run's full id). A number matches only a whole value ("16" finds
// batch 16, never 16.2 s); other words match the start of a value ("resnet" finds resnet18).
// "column:value" looks in that column only.
document.querySelectorAll("input[data-filter]").forEach(function (input) {
  var table = document.getElementById(input.getAttribute("data-filter"));
  var count = document.getElementById(input.getAttribute("data-filter") + "-count");
  var names = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) {
    return th.textContent.trim().toLowerCase();
  });
  var values = function (cell) {
    var text = cell.textContent.trim().toLowerCase();
    var out = [text].concat(text.split(/[\s,·]+/).filter(Boolean));
    if (cell.hasAttribute("data-value")) { out.push(cell.getAttribute("data-value").toLowerCase()); }
    return out;
  };
  var matches = function (row, word) {
    var at = word.indexOf(":");
    var column = at > 0 ? word.slice(0, at) : null, value = at > 0 ? word.slice(at + 1) : word;
    var numeric = value !== "" && isFinite(value);
    return Array.prototype.some.call(row.cells, function (cell, i) {
      if (column !== null && names[i].indexOf(column) !== 0) { return false; }
      return values(cell).some(function (v) { return numeric ? v === value : v.indexOf(value) === 0; });
    });
  };
  input.addEventListener("input", function () {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var keep = words.every(function (w) { return matches(row, w); });
      row.hidden = !keep;
      shown += keep ? 1 : 0;
    });
    if (count) { count.textContent = shown + " of " + table.tBodies[0].rows.length + " runs shown"; }
  });
});
