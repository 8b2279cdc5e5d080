/**
 * Requests from anywhere in the editor to the canvas's viewport (fit after a load,
 * centre on a node a problem points at). The canvas owns the React Flow instance.
 */
type Listener = (request: ViewRequest) => void;
export type ViewRequest = { readonly kind: 'fit' } | { readonly kind: 'center-node'; readonly id: string };

const listeners = new Set<Listener>();

export function requestView(request: ViewRequest): void {
  for (const listener of listeners) listener(request);
}

export function onViewRequest(listener: Listener): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

/** The canvas's centre on screen, where keyboard-added nodes go. */
export function canvasCenterOnScreen(): { x: number; y: number } | undefined {
  const element = document.querySelector('[data-testid="canvas"]');
  if (!element) return undefined;
  const rect = element.getBoundingClientRect();
  return { x: rect.left + rect.width / 2, y: rect.top + rect.height / 2 };
}
