import { EditorApp } from '../components/EditorApp';
import { loadExamples } from '../examples/load-examples';

/** Prerendered at build time: the examples gallery is part of the built page. */
export const dynamic = 'force-static';

export default function Page() {
  return <EditorApp examples={loadExamples()} />;
}
