'use client';
/**
 * The editor runs in the browser only (React Flow measures the DOM, Monaco needs
 * workers, the document lives in localStorage): it is loaded without server
 * rendering. The examples arrive as props, read at build time by the page.
 */
import dynamic from 'next/dynamic';
import type { Example } from '../examples/load-examples';

const Editor = dynamic(() => import('./Editor'), {
  ssr: false,
  loading: () => (
    <div className="app-loading" role="status">
      Loading the editor…
    </div>
  ),
});

export function EditorApp({ examples }: { examples: readonly Example[] }) {
  return <Editor examples={examples} />;
}
