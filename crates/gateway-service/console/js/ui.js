// Small DOM helpers: elements from data (text is always set as text, never parsed as HTML),
// the status line, and form fields that show the server's message under the field.

/** `h('a', { href: '#/' }, 'Home')`: attributes, `on*` listeners, children (strings or nodes). */
export function h(tag, attributes = {}, ...children) {
  const element = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the content of `parent`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
}

/** Says `message` in the status line (read out by screen readers); errors stay until replaced. */
export function say(message, kind = 'info') {
  const status = document.getElementById('status');
  status.textContent = message;
  status.className = message ? `status ${kind}` : 'status';
  clearTimeout(say.timer);
  if (kind !== 'error') say.timer = setTimeout(() => { status.textContent = ''; status.className = 'status'; }, 4000);
}

/** A problem box with `message` (role alert), optionally with action buttons. */
export function problem(message, ...actions) {
  return h('div', { class: 'problem', role: 'alert' }, h('p', {}, message), actions.length ? h('p', {}, actions) : null);
}

/** A page heading, focused when the page is shown so keyboard users start there. */
export function heading(text) {
  return h('h1', { tabindex: '-1' }, text);
}

let fieldCounter = 0;

/**
 * A labelled input with a place for the server's message about it:
 * `{ element, input, setError(message) }`.
 */
export function field(label, name, attributes = {}) {
  const id = `f-${name}-${++fieldCounter}`;
  const message = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  const input = attributes.options
    ? h('select', { id, name, ...without(attributes, 'options') }, attributes.options)
    : h('input', { id, name, ...attributes });
  const element = h('div', { class: 'field' }, h('label', { for: id }, label), input, message);
  return {
    element,
    input,
    setError(text) {
      message.hidden = !text;
      message.textContent = text || '';
      if (text) {
        input.setAttribute('aria-invalid', 'true');
        input.setAttribute('aria-describedby', message.id);
      } else {
        input.removeAttribute('aria-invalid');
        input.removeAttribute('aria-describedby');
      }
    },
  };
}

function without(object, key) {
  const copy = { ...object };
  delete copy[key];
  return copy;
}

/** A date-time from the API (`2026-12-02T10:00:00.000+00:00`) for display, in UTC. */
export function date(text) {
  if (!text) return '—';
  const parsed = new Date(text);
  if (Number.isNaN(parsed.getTime())) return text;
  return parsed.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}
