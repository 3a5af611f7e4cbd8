/**
 * The console's only way to build DOM: every string from the server becomes a text node or an
 * attribute value, never markup (no innerHTML anywhere), and no inline style (the CSP forbids it;
 * classes in console.css carry the look).
 */
export type Child = Node | string | number | null | undefined | false | Child[];

type Handlers = { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };

export interface Attrs {
  class?: string | (string | false | undefined)[];
  on?: Handlers;
  [attribute: string]: string | number | boolean | undefined | Handlers | (string | false | undefined)[];
}

/** An element with these attributes (false/undefined ones left out) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'on') {
      for (const [type, handler] of Object.entries(value as Handlers)) element.addEventListener(type, handler as EventListener);
    } else if (name === 'class') {
      const classes = (Array.isArray(value) ? value : [value]).filter((c): c is string => typeof c === 'string' && c !== '');
      if (classes.length > 0) element.className = classes.join(' ');
    } else if (value === true) {
      element.setAttribute(name, '');
    } else if (value !== false && value !== undefined) {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

/** Appends children: strings and numbers as text nodes. */
export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    // anything but a node becomes text: a field the server sends in another shape shows as it is, never as markup
    else parent.appendChild(child instanceof Node ? child : document.createTextNode(typeof child === 'object' ? JSON.stringify(child) : String(child)));
  }
}

/** Replaces an element's children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A link the router follows without reloading the page. */
export function link(href: string, ...children: Child[]): HTMLAnchorElement {
  return h('a', { href }, ...children);
}

/** A red box with the message as the server gave it. */
export function errorBox(error: unknown): HTMLElement {
  return h('div', { class: 'error', role: 'alert' }, error instanceof Error ? error.message : String(error));
}

/** A small coloured label. */
export function badge(text: string, tone: 'ok' | 'bad' | 'warn' | 'muted' | 'info'): HTMLElement {
  return h('span', { class: ['badge', `badge-${tone}`] }, text);
}

/** A definition list of label → value pairs, the pairs whose value is missing left out. */
export function facts(pairs: [string, Child][]): HTMLElement {
  return h('dl', { class: 'facts' }, pairs.filter(([, value]) => value !== undefined && value !== '' && value !== null).map(([label, value]) => [h('dt', {}, label), h('dd', {}, value)]));
}

/**
 * A reason box and buttons that stay disabled until a reason is typed; `act` runs with the reason
 * and the button pressed, and what it throws is shown verbatim under the form.
 */
export function reasonForm(options: { placeholder: string; buttons: { label: string; tone: 'primary' | 'danger' }[]; act: (button: string, reason: string) => Promise<void> }): HTMLElement {
  const input = h('input', { type: 'text', class: 'reason', placeholder: options.placeholder, 'aria-label': 'reason', required: true });
  const result = h('div', { class: 'form-result' });
  const buttons = options.buttons.map(({ label, tone }) =>
    h('button', { type: 'button', class: ['button', `button-${tone}`], disabled: true, on: { click: () => void submit(label) } }, label),
  );
  const submit = async (label: string) => {
    const reason = input.value.trim();
    if (reason === '') return;
    buttons.forEach((b) => (b.disabled = true));
    replace(result);
    try {
      await options.act(label, reason);
    } catch (error) {
      replace(result, errorBox(error));
      buttons.forEach((b) => (b.disabled = false));
    }
  };
  input.addEventListener('input', () => buttons.forEach((b) => (b.disabled = input.value.trim() === '')));
  return h('div', { class: 'reason-form' }, h('div', { class: 'reason-row' }, input, buttons), result);
}
