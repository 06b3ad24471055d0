// Building DOM nodes. Data is only ever set as text (text nodes), never parsed as markup.

/**
 * Create an element: h("a", {className: "x", href: "/y"}, "text", child, ...).
 * Props are DOM properties, but none that parses markup; children are strings (as
 * text) or nodes.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (/html/i.test(name)) throw new Error(`h(): the ${name} property parses markup`);
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("aria-") || name === "role") element.setAttribute(name, String(value));
    else element[name] = value;
  }
  append(element, children);
  return element;
}

/** Append strings (as text nodes) and nodes; arrays are flattened, null is skipped. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Remove every child of an element. */
export function clear(element) {
  element.replaceChildren();
}
