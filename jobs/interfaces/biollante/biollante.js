// Biollante's page: shows the classifier's features and weights and the last results, and
// posts the GA settings (start, "@state" 2) or the end of the job (finish, "@state" 3) to the
// working URL. No inline script: the page lives under the interactive page policy.
(function () {
  "use strict";

  var OPTIMIZING = 2;
  var FINISHING = 3;

  function $(id) {
    return document.getElementById(id);
  }

  function workingUrl() {
    var path = window.location.pathname;
    return path.endsWith("/") ? path : path + "/";
  }

  function showError(message) {
    var e = $("bl-error");
    e.textContent = message;
    e.classList.remove("bl-hidden");
  }

  function setStatus(message) {
    $("bl-status").textContent = message;
  }

  function mode() {
    var checked = document.querySelector("#bl-base input[name='opMode']:checked");
    return checked ? Number(checked.value) : 0;
  }

  // Weighting-only operators are shown in weighting mode, binary mutation in selection mode.
  function showModeRows() {
    var weighting = mode() === 1;
    document.querySelectorAll(".bl-weighting").forEach(function (row) {
      row.classList.toggle("bl-hidden", !weighting);
    });
    document.querySelectorAll(".bl-selection-only").forEach(function (row) {
      row.classList.toggle("bl-hidden", weighting);
    });
  }

  function rowParams(row) {
    var params = {};
    row.querySelectorAll("input[data-param]").forEach(function (input) {
      var value = Number(input.value);
      params[input.getAttribute("data-param")] =
        input.getAttribute("data-int") ? Math.round(value) : value;
    });
    return params;
  }

  function single(formId) {
    var checked = document.querySelector("#" + formId + " input[name='method']:checked");
    if (!checked) {
      return null;
    }
    return { method: checked.value, parameters: rowParams(checked.closest(".bl-row")) };
  }

  function multiple(formId) {
    var list = [];
    document.querySelectorAll("#" + formId + " input[name='method']:checked").forEach(function (box) {
      var row = box.closest(".bl-row");
      if (row.classList.contains("bl-hidden")) {
        return;
      }
      list.push({ method: box.value, parameters: rowParams(row) });
    });
    return list;
  }

  function startInput() {
    return {
      "@state": OPTIMIZING,
      "@base": {
        opMode: mode(),
        popSize: Math.round(Number($("bl-popsize").value)),
        crossRate: Number($("bl-crossrate").value),
        mutRate: Number($("bl-mutrate").value)
      },
      "@selection": single("bl-selection"),
      "@replacement": single("bl-replacement"),
      "@mutation": multiple("bl-mutation"),
      "@crossover": multiple("bl-crossover"),
      "@stop_criteria": multiple("bl-stop-criteria")
    };
  }

  function submit(body) {
    $("bl-start").disabled = true;
    $("bl-finish").disabled = true;
    setStatus("Submitting…");
    return fetch(workingUrl(), {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (response.ok) {
        $("bl-main").classList.add("bl-hidden");
        var done = $("bl-done");
        done.classList.remove("bl-hidden");
        done.setAttribute("data-state", String(body["@state"]));
        done.textContent = body["@state"] === FINISHING
          ? "Submitted. Biollante writes the classifier's settings and the workflow run goes on."
          : "Submitted. Biollante is optimising; open the job again from the run once it waits " +
            "for you.";
        setStatus("Submitted.");
        return;
      }
      return response.text().then(function (text) {
        showError("The input was refused (" + response.status + "): " + text);
        setStatus("Not submitted.");
        $("bl-start").disabled = false;
        $("bl-finish").disabled = false;
      });
    }).catch(function (error) {
      showError("The input could not be sent: " + error);
    });
  }

  // Checks the saved methods (upstream's serialised settings) and fills their parameters.
  function restore(formId, saved) {
    var items = Array.isArray(saved) ? saved : (saved && saved.method ? [saved] : []);
    if (!items.length) {
      return;
    }
    var boxes = document.querySelectorAll("#" + formId + " input[name='method']");
    boxes.forEach(function (box) {
      var item = items.find(function (i) { return i.method === box.value; });
      box.checked = Boolean(item);
      if (item && item.parameters) {
        box.closest(".bl-row").querySelectorAll("input[data-param]").forEach(function (input) {
          var v = item.parameters[input.getAttribute("data-param")];
          if (typeof v === "number") {
            input.value = String(v);
          }
        });
      }
    });
  }

  function showContext(ctx) {
    if (ctx.results) {
      $("bl-no-results").classList.add("bl-hidden");
      $("bl-has-results").classList.remove("bl-hidden");
      $("bl-generation").textContent = String(ctx.results.generation);
      $("bl-best-fitness").textContent = String(ctx.results.bestFitness);
    }
    var base = ctx.base || {};
    if (base.opMode === 1) {
      document.querySelector("#bl-base input[name='opMode'][value='1']").checked = true;
    }
    if (typeof base.popSize === "number") { $("bl-popsize").value = String(base.popSize); }
    if (typeof base.mutRate === "number") { $("bl-mutrate").value = String(base.mutRate); }
    if (typeof base.crossRate === "number") { $("bl-crossrate").value = String(base.crossRate); }
    restore("bl-selection", ctx.selection);
    restore("bl-replacement", ctx.replacement);
    restore("bl-mutation", ctx.mutation);
    restore("bl-crossover", ctx.crossover);
    restore("bl-stop-criteria", ctx.stop_criteria);
    showModeRows();
    var rows = $("bl-weight-rows");
    (ctx.features || []).forEach(function (feature) {
      feature.weights.forEach(function (weight, i) {
        var tr = document.createElement("tr");
        var name = document.createElement("td");
        name.textContent = feature.name + " - " + i;
        var selected = document.createElement("td");
        selected.textContent = feature.selections[i] ? "yes" : "no";
        var cell = document.createElement("td");
        var text = document.createElement("span");
        text.className = "bl-weight";
        text.textContent = weight.toFixed(2) + " ";
        var bar = document.createElement("progress");
        bar.max = 1;
        bar.value = Math.max(0, Math.min(1, weight));
        cell.appendChild(text);
        cell.appendChild(bar);
        tr.appendChild(name);
        tr.appendChild(selected);
        tr.appendChild(cell);
        rows.appendChild(tr);
      });
    });
    $("bl-main").classList.remove("bl-hidden");
    setStatus(ctx.num_features + " features.");
  }

  document.querySelectorAll(".bl-tab").forEach(function (tab) {
    tab.addEventListener("click", function () {
      document.querySelectorAll(".bl-tab").forEach(function (t) { t.classList.remove("bl-active"); });
      document.querySelectorAll(".bl-section").forEach(function (s) { s.classList.add("bl-hidden"); });
      tab.classList.add("bl-active");
      $(tab.getAttribute("data-target")).classList.remove("bl-hidden");
    });
  });
  document.querySelectorAll("#bl-base input[name='opMode']").forEach(function (radio) {
    radio.addEventListener("change", showModeRows);
  });
  $("bl-start").addEventListener("click", function () { submit(startInput()); });
  $("bl-finish").addEventListener("click", function () { submit({ "@state": FINISHING }); });

  fetch("context.json", { headers: { "Accept": "application/json" } })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("context.json: " + response.status);
      }
      return response.json();
    })
    .then(showContext)
    .catch(function (error) {
      showError("The job's data could not be loaded: " + error);
      setStatus("");
    });
}());
