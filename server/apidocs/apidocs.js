// Renders openapi.json (OpenAPI 3.0) as a readable page. Self-contained:
// no libraries, nothing loaded from elsewhere, and every string from the
// document becomes a text node, never markup.
"use strict";

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
let doc = {};

// el builds an element: el("td", {class: "name"}, "text", childNode, ...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  return add(e, children);
}

// add appends children to parent: nodes, strings as text, arrays
// flattened, and null, undefined and false skipped.
function add(parent, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return parent;
}

// text renders the little Markdown the document uses: paragraphs and `code`.
function text(s, tag) {
  if (!s) return null;
  const box = el("div", {class: "text"});
  for (const para of String(s).split(/\n\s*\n/)) {
    const p = el(tag || "p");
    String(para).split("`").forEach((part, i) => p.append(i % 2 ? el("code", {}, part) : part));
    add(box, p);
  }
  return box;
}

// resolve follows a local $ref ("#/components/schemas/X") and returns the
// target and the name it was given.
function resolve(obj) {
  if (!obj || !obj.$ref) return [obj || {}, null];
  const parts = obj.$ref.replace(/^#\//, "").split("/");
  let target = doc;
  for (const p of parts) target = target && target[p.replace(/~1/g, "/").replace(/~0/g, "~")];
  return [target || {}, parts[parts.length - 1]];
}

function typeLabel(schema) {
  const [s, name] = resolve(schema);
  if (name && (s.type === "object" || s.oneOf || s.anyOf)) return name;
  if (s.oneOf || s.anyOf) return "one of: " + (s.oneOf || s.anyOf).map(typeLabel).join(" | ");
  let t = s.type || (s.properties ? "object" : "any");
  if (t === "array") t = "array of " + typeLabel(s.items || {});
  if (s.format) t += " (" + s.format + ")";
  if (s.nullable) t += " | null";
  return t;
}

// constraints lists enum, default, pattern and bounds of a schema.
function constraints(s) {
  const out = [];
  if (s.enum) out.push("one of: " + s.enum.map(v => JSON.stringify(v)).join(", "));
  if (s.default !== undefined) out.push("default: " + JSON.stringify(s.default));
  if (s.pattern) out.push("pattern: " + s.pattern);
  if (s.maxLength !== undefined) out.push("max length: " + s.maxLength);
  if (s.minimum !== undefined) out.push("minimum: " + s.minimum);
  return out.length ? el("div", {class: "enum"}, out.join(" · ")) : null;
}

// renderSchema shows an object's properties as a table, nesting objects
// and arrays of objects; seen stops recursion through cyclic references.
function renderSchema(schema, seen) {
  seen = seen || new Set();
  const [s, name] = resolve(schema);
  const box = el("div", {class: "schema"});
  if (name) {
    if (seen.has(name)) return el("div", {class: "muted"}, "(" + name + ", see above)");
    seen = new Set(seen).add(name);
  }
  const variants = s.oneOf || s.anyOf;
  if (variants) {
    add(box, el("div", {class: "muted"}, "One of" + (s.discriminator ? ", chosen by " + s.discriminator.propertyName : "") + ":"));
    for (const v of variants) {
      add(box, el("div", {class: "nested"}, el("div", {class: "type"}, typeLabel(v)), renderSchema(v, seen)));
    }
    return box;
  }
  if (s.description && name) add(box, text(s.description));
  if (s.type === "array") {
    add(box, el("div", {class: "type"}, typeLabel(s)));
    const [item] = resolve(s.items);
    if (item.properties || item.oneOf) add(box, el("div", {class: "nested"}, renderSchema(s.items, seen)));
    return box;
  }
  if (!s.properties) {
    if (!s.additionalProperties) add(box, el("div", {class: "type"}, typeLabel(s)), constraints(s));
    else add(box, el("div", {class: "type"}, "object: name → " + typeLabel(s.additionalProperties)));
    return box;
  }
  const required = new Set(s.required || []);
  const rows = Object.entries(s.properties).map(([prop, ps]) => {
    const [p] = resolve(ps);
    const nested = (p.properties || p.additionalProperties || (p.type === "array" && resolve(p.items)[0].properties)) ?
      el("div", {class: "nested"}, renderSchema(ps, seen)) : null;
    return el("tr", {},
      el("td", {class: "name"}, prop, required.has(prop) ? el("span", {class: "req"}, "required") : null),
      el("td", {class: "type"}, typeLabel(ps)),
      el("td", {}, text(p.description || resolve(ps)[0].description), constraints(p), nested));
  });
  add(box, el("table", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "type"), el("th", {}, "description")), rows));
  if (s.additionalProperties === false) add(box, el("div", {class: "enum"}, "No other fields are accepted."));
  return box;
}

function example(media) {
  if (!media || media.example === undefined) return null;
  const body = typeof media.example === "string" ? media.example : JSON.stringify(media.example, null, 2);
  return el("details", {}, el("summary", {}, "Example"), el("pre", {}, body));
}

// renderContent shows each media type's schema and example; collapsed
// puts the schema behind a summary (error bodies repeat on every status).
function renderContent(content, collapsed) {
  return Object.entries(content || {}).map(([type, media]) => {
    const schema = renderSchema(media.schema || {});
    return el("div", {}, el("div", {class: "muted"}, el("code", {}, type)),
      collapsed ? el("details", {}, el("summary", {}, "Schema: " + typeLabel(media.schema || {})), schema) : schema,
      example(media));
  });
}

function renderParameters(params) {
  if (!params || !params.length) return null;
  const rows = params.map(ref => {
    const [p] = resolve(ref);
    return el("tr", {},
      el("td", {class: "name"}, p.name, p.required ? el("span", {class: "req"}, "required") : null),
      el("td", {}, p.in),
      el("td", {class: "type"}, typeLabel(p.schema || {}) + (p.explode && (p.schema || {}).type === "array" ? ", repeatable" : "")),
      el("td", {}, text(p.description), constraints(resolve(p.schema)[0]),
        p.example !== undefined ? el("div", {class: "enum"}, "example: " + JSON.stringify(p.example)) : null));
  });
  return [el("h4", {}, "Parameters"), el("table", {},
    el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "description")), rows)];
}

function renderSecurity(op) {
  const sec = op.security || doc.security;
  if (!sec) return null;
  const schemes = (doc.components || {}).securitySchemes || {};
  const alts = sec.map(req => {
    const names = Object.keys(req);
    if (!names.length) return "none";
    return names.map(n => {
      const s = schemes[n] || {};
      return s.type === "http" ? "HTTP " + s.scheme.replace(/^./, c => c.toUpperCase()) : n;
    }).join(" + ");
  });
  return el("p", {class: "muted"}, "Authentication: " + alts.join(", or "));
}

function renderResponses(responses) {
  const rows = Object.entries(responses || {}).map(([status, ref]) => {
    const [r] = resolve(ref);
    const headers = Object.entries(r.headers || {}).map(([h, hr]) => {
      const [hd] = resolve(hr);
      return el("div", {class: "header"}, el("code", {}, h), " ", text(hd.description, "span"));
    });
    return el("tr", {},
      el("td", {class: "status s" + status[0]}, status),
      el("td", {}, text(r.description), headers.length ? el("div", {}, el("h4", {}, "Headers"), headers) : null,
        renderContent(r.content, status[0] !== "2")));
  });
  return [el("h4", {}, "Responses"), el("table", {}, el("tr", {}, el("th", {}, "status"), el("th", {}, "")), rows)];
}

function anchor(method, path) {
  return (method + "-" + path).replace(/[^A-Za-z0-9]+/g, "-");
}

function renderOperation(path, method, op) {
  const body = op.requestBody ? resolve(op.requestBody)[0] : null;
  return el("section", {class: "op", id: anchor(method, path)},
    el("div", {class: "head"},
      el("span", {class: "method " + method}, method.toUpperCase()),
      el("h3", {class: "path"}, path),
      el("span", {class: "summary"}, op.summary || "")),
    el("div", {class: "body"},
      text(op.description),
      renderSecurity(op),
      renderParameters(op.parameters),
      body ? [el("h4", {}, "Request body" + (body.required ? "" : " (optional)")), text(body.description), renderContent(body.content)] : null,
      renderResponses(op.responses)));
}

function render() {
  const info = doc.info || {};
  document.title = (info.title || "API") + " API";
  document.getElementById("title").textContent = (info.title || "API") + " API";
  document.getElementById("version").textContent = "· version " + (info.version || "?") + " · OpenAPI " + (doc.openapi || "?");
  // Group operations by their first tag, in the order of the top-level tags.
  const groups = new Map((doc.tags || []).map(t => [t.name, {tag: t, ops: []}]));
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags || ["other"])[0];
      if (!groups.has(tag)) groups.set(tag, {tag: {name: tag}, ops: []});
      groups.get(tag).ops.push([path, method, op]);
    }
  }
  const main = document.getElementById("doc");
  const toc = document.getElementById("toc");
  main.replaceChildren(el("div", {class: "intro"}, text(info.description)));
  toc.replaceChildren();
  for (const {tag, ops} of groups.values()) {
    if (!ops.length) continue;
    add(main, el("h2", {id: "tag-" + tag.name}, tag.name), text(tag.description));
    for (const [path, method, op] of ops) {
      add(toc, el("a", {href: "#" + anchor(method, path)},
        el("span", {class: "method " + method}, method.toUpperCase()), " ", el("span", {class: "path"}, path)));
      add(main, renderOperation(path, method, op));
    }
  }
  if (location.hash) {
    const target = document.getElementById(location.hash.slice(1));
    if (target) target.scrollIntoView();
  }
}

fetch("openapi.json", {headers: {Accept: "application/json"}})
  .then(r => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
  .then(d => { doc = d; render(); })
  .catch(err => document.getElementById("doc").replaceChildren(
    el("p", {class: "error"}, "Could not load openapi.json: " + err.message)));
