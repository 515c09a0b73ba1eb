// The admin center's policy editor: keeps the form and the JSON view in step. Every form
// field names its member's path in the policy (data-path) and how it holds it (data-shape:
// text, lines or checks); a change in the form sets those members in the JSON view's
// document and keeps every other member, the rules the server applies when the form is
// saved without this script (admin_pages/policy_form.rs). A change in the JSON view that
// parses fills the form. Nothing here talks to the network.
(function () {
  "use strict";
  var form = document.getElementById("policy-form");
  var json = document.getElementById("json");
  var status = document.getElementById("json-state");
  if (!form || !json) {
    return;
  }

  function isObject(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v);
  }

  function fieldsOf(path) {
    return Array.prototype.filter.call(form.querySelectorAll("[data-path]"), function (el) {
      return el.getAttribute("data-path") === path;
    });
  }

  var paths = [];
  Array.prototype.forEach.call(form.querySelectorAll("[data-path]"), function (el) {
    var p = el.getAttribute("data-path");
    if (paths.indexOf(p) < 0) {
      paths.push(p);
    }
  });

  function shapeOf(path) {
    return fieldsOf(path)[0].getAttribute("data-shape");
  }

  // The value a field gives its member; undefined removes the member.
  function valueOf(path) {
    var els = fieldsOf(path);
    var shape = shapeOf(path);
    var items = [];
    if (shape === "text") {
      var t = els[0].value.trim();
      return t === "" ? undefined : t;
    }
    if (shape === "lines") {
      els[0].value.split(/[\n,]/).forEach(function (s) {
        s = s.trim();
        if (s !== "") {
          items.push(s);
        }
      });
    } else {
      els.forEach(function (el) {
        if (el.checked && el.value !== "" && items.indexOf(el.value) < 0) {
          items.push(el.value);
        }
      });
    }
    return items.length ? items : undefined;
  }

  // Sets (or removes) a member at a path; a removal drops the objects it leaves empty.
  function set(doc, parts, value) {
    var head = parts[0];
    if (parts.length === 1) {
      if (value === undefined) {
        delete doc[head];
      } else {
        doc[head] = value;
      }
      return;
    }
    if (isObject(doc[head])) {
      set(doc[head], parts.slice(1), value);
      if (Object.keys(doc[head]).length === 0) {
        delete doc[head];
      }
    } else if (value !== undefined) {
      doc[head] = {};
      set(doc[head], parts.slice(1), value);
    }
  }

  function get(doc, path) {
    return path.split(".").reduce(function (v, k) {
      return isObject(v) ? v[k] : undefined;
    }, doc);
  }

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function parse() {
    var text = json.value.trim();
    if (text === "") {
      return {};
    }
    var doc = JSON.parse(text);
    if (!isObject(doc)) {
      throw new Error("the JSON view does not hold a JSON object");
    }
    return doc;
  }

  function formToJson() {
    var doc;
    try {
      doc = parse();
    } catch (e) {
      say("The JSON view has an error (" + e.message + "): correct it to use the form.");
      return;
    }
    paths.forEach(function (p) {
      set(doc, p.split("."), valueOf(p));
    });
    // An operator with nothing to combine is no grant control.
    if (isObject(doc.grantControls) && Object.keys(doc.grantControls).every(function (k) {
      return k === "operator";
    })) {
      delete doc.grantControls;
    }
    json.value = JSON.stringify(doc, null, 2);
    say("");
  }

  function addCheckbox(path, value) {
    var first = fieldsOf(path)[0];
    var box = first.cloneNode(false);
    box.value = value;
    var label = document.createElement("label");
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + value));
    first.parentNode.parentNode.appendChild(label);
    return box;
  }

  function jsonToForm() {
    var doc;
    try {
      doc = parse();
    } catch (e) {
      say("Not valid JSON yet (" + e.message + "); the form shows the last valid document.");
      return;
    }
    paths.forEach(function (p) {
      var v = get(doc, p);
      var shape = shapeOf(p);
      var els = fieldsOf(p);
      if (shape === "text") {
        var el = els[0];
        var s = typeof v === "string" ? v : "";
        if (el.tagName === "SELECT") {
          if (s === "") {
            return;
          }
          if (!Array.prototype.some.call(el.options, function (o) { return o.value === s; })) {
            var o = document.createElement("option");
            o.value = s;
            o.textContent = s;
            el.appendChild(o);
          }
        }
        el.value = s;
        return;
      }
      var list = Array.isArray(v) ? v.filter(function (x) { return typeof x === "string"; }) : [];
      if (shape === "lines") {
        els[0].value = list.join("\n");
        return;
      }
      els.forEach(function (el) {
        el.checked = list.indexOf(el.value) >= 0;
      });
      list.forEach(function (value) {
        if (!els.some(function (el) { return el.value === value; })) {
          addCheckbox(p, value).checked = true;
        }
      });
    });
    say("");
  }

  form.addEventListener("input", formToJson);
  form.addEventListener("change", formToJson);
  json.addEventListener("input", jsonToForm);
})();
