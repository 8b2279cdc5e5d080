'use client';
/**
 * The palette is generated from the catalog (`operatorsByCategory()`): every
 * operator, grouped and searchable. Drag an item onto the canvas (HTML5 drag and
 * drop) or press Enter on it to add the operator at the centre of the view.
 */
import { operatorsByCategory, type OperatorDefinition } from '@sluice/graph-model';
import { useReactFlow } from '@xyflow/react';
import { memo, useMemo, useState, type DragEvent, type KeyboardEvent } from 'react';
import { DEFAULT_NODE_SIZE } from '../model/layout';
import { getEditorStore } from '../store/use-editor';
import { OPERATOR_MIME } from './Canvas';
import { CATEGORY_LABELS, CategoryIcon } from './CategoryIcon';
import { canvasCenterOnScreen } from './view-events';

const GROUPS = [...operatorsByCategory()];

export function Palette() {
  const [query, setQuery] = useState('');
  const flow = useReactFlow();
  const groups = useMemo(() => {
    const q = query.trim().toLowerCase();
    if (!q) return GROUPS;
    return GROUPS.map(([category, ops]) => [category, ops.filter((op) => matches(op, q))] as const).filter(([, ops]) => ops.length > 0);
  }, [query]);

  const addAtCenter = (type: string) => {
    const center = canvasCenterOnScreen();
    if (!center) return;
    const point = flow.screenToFlowPosition(center);
    const doc = getEditorStore().getState().doc;
    // Do not stack keyboard-added nodes exactly on top of each other.
    let position = { x: point.x - DEFAULT_NODE_SIZE.width / 2, y: point.y - DEFAULT_NODE_SIZE.height / 2 };
    for (let i = 0; i < 50 && doc.nodes.some((n) => n.position && Math.abs(n.position.x - position.x) < 20 && Math.abs(n.position.y - position.y) < 20); i++) {
      position = { x: position.x + 30, y: position.y + 30 };
    }
    getEditorStore().getState().addNode(type, position);
  };

  return (
    <aside className="palette" aria-label="Operators">
      <div className="palette-search">
        <label htmlFor="palette-search" className="visually-hidden">
          Search operators
        </label>
        <input
          id="palette-search"
          type="search"
          placeholder="Search operators…"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          data-testid="palette-search"
          autoComplete="off"
        />
      </div>
      <div className="palette-groups">
        {groups.length === 0 ? <p className="palette-empty">No operator matches “{query}”.</p> : null}
        {groups.map(([category, ops]) => (
          <section key={category} className={`palette-group cat-${category}`} aria-labelledby={`palette-${category}-title`}>
            <h2 id={`palette-${category}-title`} className="palette-group-title">
              {CATEGORY_LABELS[category]}
            </h2>
            <ul>
              {ops.map((op) => (
                <PaletteItem key={op.type} op={op} onAdd={addAtCenter} />
              ))}
            </ul>
          </section>
        ))}
      </div>
      <p className="palette-hint">Drag onto the canvas, or press Enter to add at the centre.</p>
    </aside>
  );
}

const PaletteItem = memo(function PaletteItem({ op, onAdd }: { op: OperatorDefinition; onAdd: (type: string) => void }) {
  const onDragStart = (event: DragEvent) => {
    event.dataTransfer.setData(OPERATOR_MIME, op.type);
    event.dataTransfer.setData('text/plain', op.type);
    event.dataTransfer.effectAllowed = 'copy';
  };
  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      onAdd(op.type);
    }
  };
  return (
    <li>
      <div
        className={`palette-item cat-${op.category}`}
        draggable
        tabIndex={0}
        role="button"
        aria-label={`${op.title}: press Enter to add to the canvas`}
        aria-describedby={`palette-doc-${op.type}`}
        title={op.doc}
        data-testid={`palette-${op.type}`}
        onDragStart={onDragStart}
        onKeyDown={onKeyDown}
        onDoubleClick={() => onAdd(op.type)}
      >
        <CategoryIcon category={op.category} />
        <span className="palette-item-title">{op.title}</span>
        <span id={`palette-doc-${op.type}`} className="visually-hidden">
          {op.doc}
        </span>
      </div>
    </li>
  );
});

function matches(op: OperatorDefinition, q: string): boolean {
  return op.title.toLowerCase().includes(q) || op.type.includes(q) || op.doc.toLowerCase().includes(q) || op.category.includes(q);
}
