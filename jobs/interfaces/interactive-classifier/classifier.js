// The Interactive Classifier's page: shows the glyphs of a page grouped by their class (the
// kNN's suggestion, or the class a person set), lets the person select glyphs, set or accept
// their class, and submit: "Classify again" asks for new suggestions (the job runs again and
// waits), "Finish" writes the job's outputs. The page is served at the run job's working URL;
// its data is `context.json` beside it, and it posts its input to the working URL itself.
(function () {
  "use strict";

  var CLASSIFYING = 1;
  var EXPORT_XML = 2;
  var UNCLASSIFIED = "UNCLASSIFIED";

  var glyphs = [];
  var byId = {};
  var changed = {};
  var selected = {};

  function $(id) {
    return document.getElementById(id);
  }

  function workingUrl() {
    var path = window.location.pathname;
    return path.endsWith("/") ? path : path + "/";
  }

  function showError(message) {
    var e = $("ic-error");
    e.textContent = message;
    e.classList.remove("ic-hidden");
  }

  function setStatus(message) {
    $("ic-status").textContent = message;
  }

  function selectedIds() {
    return Object.keys(selected).map(Number);
  }

  function updateSelectionCount() {
    $("ic-selected-count").textContent = selectedIds().length + " selected";
  }

  function render() {
    var container = $("ic-glyphs");
    container.textContent = "";
    var classes = {};
    glyphs.forEach(function (g) {
      (classes[g.class_name] = classes[g.class_name] || []).push(g);
    });
    var names = Object.keys(classes).sort(function (a, b) {
      if (a === UNCLASSIFIED) return 1;
      if (b === UNCLASSIFIED) return -1;
      return a < b ? -1 : a > b ? 1 : 0;
    });
    names.forEach(function (name) {
      var section = document.createElement("div");
      section.className = "ic-class";
      section.setAttribute("data-class", name);
      var title = document.createElement("h2");
      title.textContent = name + " (" + classes[name].length + ")";
      section.appendChild(title);
      var list = document.createElement("div");
      list.className = "ic-class-glyphs";
      classes[name]
        .sort(function (a, b) { return a.confidence - b.confidence; })
        .forEach(function (g) { list.appendChild(glyphElement(g)); });
      section.appendChild(list);
      container.appendChild(section);
    });
    updateSelectionCount();
    var manual = glyphs.filter(function (g) { return g.id_state_manual; }).length;
    setStatus(glyphs.length + " glyphs, " + manual + " classified by hand, " +
      Object.keys(changed).length + " changed since the last submission.");
  }

  function glyphElement(g) {
    var el = document.createElement("button");
    el.type = "button";
    el.className = "ic-glyph" + (g.id_state_manual ? " ic-manual" : "") +
      (selected[g.id] ? " ic-selected" : "");
    el.id = "ic-glyph-" + g.id;
    el.setAttribute("data-id", String(g.id));
    el.setAttribute("data-class", g.class_name);
    el.title = g.class_name + " at (" + g.ulx + ", " + g.uly + "), " + g.ncols + "×" + g.nrows +
      (g.id_state_manual ? ", set by hand" : ", confidence " + Number(g.confidence).toFixed(3));
    var img = document.createElement("img");
    img.className = "ic-glyph-image";
    img.src = g.image;
    img.alt = g.class_name;
    el.appendChild(img);
    var label = document.createElement("span");
    label.className = "ic-glyph-class";
    label.textContent = g.class_name;
    el.appendChild(label);
    el.addEventListener("click", function () {
      if (selected[g.id]) {
        delete selected[g.id];
        el.classList.remove("ic-selected");
      } else {
        selected[g.id] = true;
        el.classList.add("ic-selected");
      }
      updateSelectionCount();
    });
    return el;
  }

  function setClass(ids, className) {
    ids.forEach(function (id) {
      var g = byId[id];
      if (!g) return;
      g.class_name = className;
      g.id_state_manual = true;
      g.confidence = 1;
      changed[id] = { id: id, class_name: className, id_state_manual: true, confidence: 1 };
    });
    selected = {};
    addClassName(className);
    render();
  }

  function addClassName(name) {
    var list = $("ic-class-names");
    var exists = Array.prototype.some.call(list.options, function (o) { return o.value === name; });
    if (!exists && name !== UNCLASSIFIED) {
      var option = document.createElement("option");
      option.value = name;
      list.appendChild(option);
    }
  }

  function validClassName(name) {
    return /^[^_\s][^\s]{0,99}$/.test(name);
  }

  function submit(state) {
    var body = {
      "@state": state,
      "@changed_glyphs": Object.keys(changed).map(function (k) { return changed[k]; })
    };
    ["ic-classify", "ic-finish", "ic-apply", "ic-accept"].forEach(function (id) {
      $(id).disabled = true;
    });
    setStatus("Submitting…");
    return fetch(workingUrl(), {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (response.ok) {
        $("ic-main").classList.add("ic-hidden");
        var done = $("ic-done");
        done.classList.remove("ic-hidden");
        done.setAttribute("data-state", String(state));
        done.textContent = state === EXPORT_XML
          ? "Submitted. The classifier writes its outputs and the workflow run goes on."
          : "Submitted. The classifier is running again; open the job again from the run " +
            "once it waits for you.";
        setStatus("Submitted.");
        return;
      }
      return response.text().then(function (text) {
        showError("The input was refused (" + response.status + "): " + text);
        setStatus("Not submitted.");
        ["ic-classify", "ic-finish", "ic-apply", "ic-accept"].forEach(function (id) {
          $(id).disabled = false;
        });
      });
    }).catch(function (error) {
      showError("The input could not be sent: " + error);
    });
  }

  function init(context) {
    glyphs = context.glyphs || [];
    glyphs.forEach(function (g) { byId[g.id] = g; });
    (context.class_names || []).forEach(addClassName);
    if (context.preview) {
      $("ic-preview").src = context.preview;
    }
    $("ic-apply").addEventListener("click", function () {
      var name = $("ic-class-input").value.trim();
      var ids = selectedIds();
      if (ids.length === 0) {
        showError("Select one or more glyphs first.");
        return;
      }
      if (!validClassName(name)) {
        showError("A class name has no spaces and does not start with '_' (e.g. neume.punctum).");
        return;
      }
      $("ic-error").classList.add("ic-hidden");
      setClass(ids, name);
    });
    $("ic-accept").addEventListener("click", function () {
      selectedIds().forEach(function (id) {
        var g = byId[id];
        if (g && g.class_name !== UNCLASSIFIED) setClass([id], g.class_name);
      });
    });
    $("ic-clear-selection").addEventListener("click", function () {
      selected = {};
      render();
    });
    $("ic-classify").addEventListener("click", function () { submit(CLASSIFYING); });
    $("ic-finish").addEventListener("click", function () { submit(EXPORT_XML); });
    $("ic-main").classList.remove("ic-hidden");
    document.body.setAttribute("data-ready", "true");
    render();
  }

  fetch("context.json", { headers: { "Accept": "application/json" } })
    .then(function (response) {
      if (!response.ok) throw new Error("context.json answered " + response.status);
      return response.json();
    })
    .then(init)
    .catch(function (error) {
      showError("The glyphs could not be loaded: " + error);
      setStatus("Not loaded.");
    });
})();
