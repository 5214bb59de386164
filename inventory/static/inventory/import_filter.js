/* Import job page: filter the preview, the errors and the warnings without a
   round trip.  "Show" picks which of the three lists is visible; the SKU box
   keeps the rows whose SKU (or, for errors and warnings, whose text) contains
   what was typed.  Plain JavaScript, no library: the admin may run offline.
   Without JavaScript the bar stays hidden and every list is shown. */
(function () {
  "use strict";
  function start(bar) {
    // Which list each "Show" choice means.
    var sectionIds = {changes: "job-preview", errors: "job-errors", warnings: "job-warnings"};
    var sections = [];
    for (var name in sectionIds) {
      var element = document.getElementById(sectionIds[name]);
      if (element) { sections.push({name: name, element: element}); }
    }
    var radios = bar.querySelectorAll("input[name='hub-show']");
    var search = bar.querySelector("input[type='search']");
    var counter = bar.querySelector(".hub-filter-count");

    function chosen() {
      for (var i = 0; i < radios.length; i++) {
        if (radios[i].checked) { return radios[i].value; }
      }
      return "all";
    }

    function apply() {
      var show = chosen();
      var needle = (search.value || "").trim().toLowerCase();
      var shown = 0, total = 0;
      for (var s = 0; s < sections.length; s++) {
        var section = sections[s].element;
        var visible = show === "all" || sections[s].name === show;
        section.classList.toggle("hub-hidden", !visible);
        var rows = section.querySelectorAll("tbody tr");
        var sectionShown = 0;
        for (var r = 0; r < rows.length; r++) {
          var row = rows[r];
          // A change row is matched on its SKU cell; an error or warning on its whole text
          // (the SKU is in its value or its message).
          var skuCell = row.querySelector(".hub-sku");
          var haystack = skuCell ? skuCell.textContent : row.textContent;
          var match = !needle || haystack.toLowerCase().indexOf(needle) !== -1;
          row.classList.toggle("hub-hidden", !match);
          if (visible) {
            total += 1;
            if (match) { shown += 1; sectionShown += 1; }
          }
        }
        var empty = section.querySelector(".hub-filter-empty");
        if (empty) { empty.hidden = !(visible && needle && sectionShown === 0); }
      }
      counter.textContent = needle || show !== "all" ?
        "Showing " + shown.toLocaleString() + " of " + total.toLocaleString() + " rows" : "";
    }

    for (var i = 0; i < radios.length; i++) { radios[i].addEventListener("change", apply); }
    search.addEventListener("input", apply);
    bar.hidden = false;
    apply();
  }
  document.addEventListener("DOMContentLoaded", function () {
    var bar = document.getElementById("job-filter");
    if (bar) { start(bar); }
  });
})();
