'use client';
import { useEffect } from 'react';
import { getEditorStore, useEditor } from '../store/use-editor';

const LIFETIME_MS = { error: 8000, info: 4000, success: 3000 } as const;

/** Short messages: a refused connection and its reason, an import's result. */
export function Toasts() {
  const toasts = useEditor((s) => s.toasts);
  useEffect(() => {
    const timers = toasts.map((t) => setTimeout(() => getEditorStore().getState().dismissToast(t.id), LIFETIME_MS[t.kind]));
    return () => timers.forEach(clearTimeout);
  }, [toasts]);
  return (
    <div className="toasts" aria-live="polite" role="status">
      {toasts.map((t) => (
        <div key={t.id} className={`toast toast-${t.kind}`} data-testid="toast" data-kind={t.kind}>
          <span>{t.message}</span>
          <button type="button" className="icon-button" aria-label="Dismiss" onClick={() => getEditorStore().getState().dismissToast(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
