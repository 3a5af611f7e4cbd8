/**
 * Client-side routing: the server answers every page path with index.html, and this picks the page
 * from location.pathname. Links inside the app change the page with history.pushState; back and
 * forward re-render. A page may return a function that stops what it started (an EventSource, keys).
 */
import type { Me } from './api.js';

export interface PageContext {
  me: Me;
  /** The route's captured path segments, decoded. */
  params: string[];
  query: URLSearchParams;
  /** Re-reads what the top bar counts (pending approvals). */
  refreshNav: () => void;
  /** Shows another page of the app. */
  go: (path: string, options?: { replace?: boolean }) => void;
}

export type Page = (root: HTMLElement, context: PageContext) => (() => void) | void;

export interface Route {
  pattern: RegExp;
  page: Page;
  /** The nav entry this route belongs to. */
  section: string;
}

export class Router {
  private stop: (() => void) | undefined;

  constructor(
    private readonly routes: Route[],
    private readonly root: HTMLElement,
    private readonly context: Omit<PageContext, 'params' | 'query' | 'go'>,
    private readonly onSection: (section: string) => void,
  ) {
    window.addEventListener('popstate', () => this.render());
    document.addEventListener('click', (event) => this.follow(event));
  }

  /** Shows another page; with `replace`, in place of this history entry (filters typed in a form). */
  go(path: string, options: { replace?: boolean } = {}): void {
    if (options.replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
    this.render();
  }

  render(): void {
    this.stop?.();
    this.stop = undefined;
    const path = location.pathname;
    for (const route of this.routes) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      this.onSection(route.section);
      this.root.replaceChildren();
      window.scrollTo(0, 0);
      const params = match.slice(1).map((segment) => decodeURIComponent(segment ?? ''));
      this.stop = route.page(this.root, { ...this.context, params, query: new URLSearchParams(location.search), go: (to, options) => this.go(to, options) }) ?? undefined;
      // focus moves to the new page (as a page load would): keys act on it, not on the link that led here
      if (!this.root.contains(document.activeElement)) this.root.focus({ preventScroll: true });
      return;
    }
    this.onSection('');
    this.root.replaceChildren(Object.assign(document.createElement('p'), { className: 'empty', textContent: `No page at ${path}.` }));
  }

  private follow(event: MouseEvent): void {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = (event.target as Element | null)?.closest?.('a');
    if (!anchor || anchor.target || anchor.hasAttribute('download')) return;
    const url = new URL(anchor.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/assets/') || url.pathname.startsWith('/login')) return;
    event.preventDefault();
    this.go(url.pathname + url.search);
  }
}
